package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/jackc/pgx/v5"

	"github.com/deploybot/deploybot/bot"
)

// startupErrors are what serve finds wrong with a config that
// bot.Config.Validate accepts, as it builds its clients: checked here so
// that `deploybot check` refuses what serve would, and serve refuses it
// before it opens anything.
func startupErrors(c *bot.Config) []*bot.ConfigError {
	var errs []*bot.ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &bot.ConfigError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if msg := privateKeyProblem(c.GitHub); msg != "" {
		key := "github.private_key"
		if c.GitHub.PrivateKeyFile != "" {
			key = "github.private_key_file"
		}
		bad(key, "%s", msg)
	}
	if msg := storeProblem(c.Store); msg != "" {
		bad("store", "%s", msg)
	}
	for _, u := range []struct{ key, url string }{
		{"public_url", c.PublicURL}, {"github.api_url", c.GitHub.APIURL}, {"slack.api_url", c.Slack.APIURL},
	} {
		if msg := urlProblem(u.url); u.url != "" && msg != "" {
			bad(u.key, "%s", msg)
		}
	}
	if msg := regionProblem(c.AWS.Region); c.AWS.Region != "" && msg != "" {
		bad("aws.region", "%s", msg)
	}
	for _, name := range c.AppNames() {
		app := c.Apps[name]
		key := "apps." + name
		if !typable(name, "") {
			bad(key, "%q cannot be typed as one word in `/deploy %s <ref> <env>`: use letters, digits, '.', '_' and '-', starting with a letter or digit", name, name)
		}
		if msg := imageProblem(app.Image); app.Image != "" && msg != "" {
			bad(key+".image", "%s", msg)
		}
		for _, env := range app.EnvNames() {
			if !typable("app", env) {
				bad(key+".environments."+env, "%q cannot be typed as one word in `/deploy %s <ref> %s`: use letters, digits, '.', '_' and '-', starting with a letter or digit", env, name, env)
			}
		}
	}
	return errs
}

// typable reports whether app (and env, when given) come back unchanged
// from the Slack grammar: a name with a space, or one the grammar's rules
// refuse, can be configured but never deployed from Slack.
func typable(app, env string) bool {
	text := "status " + app
	if env != "" {
		text += " " + env
	}
	c := bot.ParseSlackCommand(text)
	return c.Kind == bot.CommandStatus && c.App == app && c.Env == env
}

// privateKeyProblem parses the GitHub App key as the GitHub client does.
// The key itself is never quoted.
func privateKeyProblem(g bot.GitHubConfig) string {
	key := []byte(g.PrivateKey)
	if g.PrivateKeyFile != "" {
		var err error
		if key, err = os.ReadFile(g.PrivateKeyFile); err != nil {
			return fmt.Sprintf("cannot read the key: %v", err)
		}
	}
	if len(key) == 0 {
		return ""
	}
	if _, err := jwt.ParseRSAPrivateKeyFromPEM(key); err != nil {
		return "not a GitHub App private key: want the RSA key in PEM form (the .pem file GitHub gives, -----BEGIN RSA PRIVATE KEY-----)"
	}
	return ""
}

// storeProblem parses the store's DSN as the store would. The DSN's
// userinfo and password are never quoted.
func storeProblem(dsn string) string {
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		if path == "" {
			return "sqlite: needs a file path, e.g. sqlite:deploybot.db"
		}
		return ""
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return "" // Validate says what a store must start with
	}
	if _, err := pgx.ParseConfig(dsn); err != nil {
		msg := fmt.Sprintf("cannot parse %s as a PostgreSQL URL", bot.RedactDSN(dsn))
		// Only the URL parser's own cause is shown: pgx quotes the DSN,
		// redacting its password as best it can.
		var ue *url.Error
		if errors.As(err, &ue) {
			return msg + ": " + ue.Err.Error()
		}
		// pgx's own text follows the quoted DSN, and has no backquote.
		if text := err.Error(); strings.Contains(text, "`: ") {
			return msg + ": " + text[strings.LastIndex(text, "`: ")+3:]
		}
		return msg
	}
	return ""
}

func urlProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("%q is not a URL: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("must be an http(s) URL, got %q", s)
	case u.Host == "":
		return fmt.Sprintf("%q names no host", s)
	}
	return ""
}

// regionShape is how every AWS region is written (us-east-1,
// ap-southeast-7, us-gov-west-1, eusc-de-east-1).
var regionShape = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)?-[a-z]+-[0-9]+$`)

func regionProblem(r string) string {
	if awsRegions[r] {
		return ""
	}
	if !regionShape.MatchString(r) {
		return fmt.Sprintf("%q is not an AWS region: want one such as us-east-1", r)
	}
	msg := fmt.Sprintf("%q is not an AWS region", r)
	if near := nearestRegion(r); near != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", near)
	}
	return msg
}

func nearestRegion(r string) string {
	best, bestDist := "", 3
	for known := range awsRegions {
		if d := editDistance(r, known); d < bestDist || d == bestDist && known < best {
			best, bestDist = known, d
		}
	}
	return best
}

// imageRepository is the OCI distribution spec's repository name, after
// an optional registry host[:port]: lower-case path components.
var (
	imageHost      = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(:[0-9]+)?$`)
	imageComponent = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
)

func imageProblem(image string) string {
	host, repo, ok := strings.Cut(image, "/")
	if !ok {
		return "" // Validate says what an image must look like
	}
	if !imageHost.MatchString(host) {
		return fmt.Sprintf("%q is not a registry host (host or host:port)", host)
	}
	for _, c := range strings.Split(repo, "/") {
		if !imageComponent.MatchString(c) {
			return fmt.Sprintf("%q is not a valid repository name: each part is lower-case letters and digits, joined by '.', '_', '__' or '-'", repo)
		}
	}
	return ""
}
