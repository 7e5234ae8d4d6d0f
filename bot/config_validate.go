package bot

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// ConfigError names the key (a dotted path such as apps.web.tag) that is
// wrong. Line is filled in by the loader when it knows it.
type ConfigError struct {
	Key     string
	Line    int
	Message string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Key, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Key, e.Message)
}

// Validate fills defaults and returns every rule the config breaks, each a
// *ConfigError, sorted by key so the output is stable.
func (c *Config) Validate() []*ConfigError {
	var errs []*ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if !strings.HasPrefix(c.Store, "sqlite:") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		// The store is often DATABASE_URL, password included.
		bad("store", "must start with sqlite: or postgres://, got %q", RedactDSN(c.Store))
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		bad("public_url", "must be an http(s) URL, got %q", c.PublicURL)
	}

	if c.GitHub.APIURL == "" {
		c.GitHub.APIURL = DefaultGitHubAPIURL
	}
	if !strings.HasSuffix(c.GitHub.APIURL, "/") {
		c.GitHub.APIURL += "/"
	}
	appAuth := c.GitHub.AppID != 0 || c.GitHub.PrivateKey != "" || c.GitHub.PrivateKeyFile != ""
	switch {
	case appAuth && c.GitHub.Token != "":
		bad("github.token", "set either token or app_id with private_key, not both")
	case appAuth:
		if c.GitHub.AppID == 0 {
			bad("github.app_id", "required with private_key")
		}
		if c.GitHub.PrivateKey == "" && c.GitHub.PrivateKeyFile == "" {
			bad("github.private_key", "required with app_id (or private_key_file)")
		}
		if c.GitHub.PrivateKey != "" && c.GitHub.PrivateKeyFile != "" {
			bad("github.private_key_file", "set either private_key or private_key_file, not both")
		}
	case c.GitHub.Token == "":
		bad("github", "set app_id with private_key, or token")
	}
	// Half an OAuth client would offer a "Sign in" that always fails.
	if (c.GitHub.ClientID == "") != (c.GitHub.ClientSecret == "") {
		bad("github.client_secret", "client_id and client_secret go together (the App's OAuth client, for dashboard logins)")
	}

	if c.Slack.APIURL == "" {
		c.Slack.APIURL = DefaultSlackAPIURL
	}
	if !strings.HasSuffix(c.Slack.APIURL, "/") {
		c.Slack.APIURL += "/"
	}
	if c.AWS.Region == "" {
		bad("aws.region", "required")
	}
	if (c.Dashboard.Username == "") != (c.Dashboard.Password == "") {
		bad("dashboard.password", "set username and password together")
	}
	if c.Dashboard.Public && c.Dashboard.HasCredentials() {
		bad("dashboard.public", "public serves the dashboard to anyone; remove it or the credentials")
	}
	if c.Timing.Lease != 0 && time.Duration(c.Timing.Lease) < time.Second {
		bad("timing.lease", "must be at least 1s")
	}

	errs = append(errs, c.validateRegistries()...)
	if len(c.Apps) == 0 {
		bad("apps", "at least one app is required")
	}
	for name, app := range c.Apps {
		key := "apps." + name
		if app == nil {
			bad(key, "is empty")
			continue
		}
		app.Name = name
		errs = append(errs, app.validate(key)...)
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Key < errs[j].Key })
	return errs
}

func (a *App) validate(key string) []*ConfigError {
	var errs []*ConfigError
	bad := func(k, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key + k, Message: fmt.Sprintf(format, args...)})
	}
	if a.Repo == "" {
		bad(".repo", "required (owner/name)")
	} else if owner, name, ok := strings.Cut(a.Repo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		bad(".repo", "must be owner/name, got %q", a.Repo)
	}
	if a.Image == "" {
		bad(".image", "required (the image repository, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/api or quay.io/acme/api)")
	} else if _, _, err := ParseImage(a.Image); err != nil {
		bad(".image", "%v", err)
	}
	if a.Tag == "" {
		bad(".tag", "required, e.g. git_{{.ShortSHA}}")
	} else if t, err := parseTagTemplate(a.Tag); err != nil {
		bad(".tag", "%v", err)
	} else {
		a.tag = t
	}
	for i, s := range a.CIPassStates {
		if s != CheckNeutral && s != CheckSkipped {
			bad(fmt.Sprintf(".ci_pass_states[%d]", i), "only neutral and skipped may be added, got %q", s)
		}
	}
	if a.CITimeout == 0 {
		a.CITimeout = Duration(DefaultCITimeout)
	}
	if len(a.Environments) == 0 {
		bad(".environments", "at least one environment is required")
	}
	for name, env := range a.Environments {
		k := ".environments." + name
		if env == nil {
			bad(k, "is empty")
			continue
		}
		env.Name, env.App = name, a.Name
		if env.Timeout == 0 {
			env.Timeout = Duration(DefaultDeployTimeout)
		}
		switch {
		case env.ECS == nil && env.ElasticBeanstalk == nil:
			bad(k, "needs one target: ecs or elasticbeanstalk")
		case env.ECS != nil && env.ElasticBeanstalk != nil:
			bad(k, "has two targets (ecs and elasticbeanstalk); use one")
		case env.ECS != nil:
			if env.ECS.Cluster == "" {
				bad(k+".ecs.cluster", "required")
			}
			if env.ECS.Service == "" {
				bad(k+".ecs.service", "required")
			}
			if env.ECS.Container == "" {
				bad(k+".ecs.container", "required")
			}
		default:
			eb := env.ElasticBeanstalk
			if eb.Application == "" {
				bad(k+".elasticbeanstalk.application", "required")
			}
			switch bg := eb.BlueGreen; {
			case bg == nil && eb.Environment == "":
				bad(k+".elasticbeanstalk.environment", "required (or blue_green)")
			case bg == nil:
			case eb.Environment != "":
				bad(k+".elasticbeanstalk.environment", "not with blue_green, which names both environments")
			case len(bg.Environments) != 2 || bg.Environments[0] == "" || bg.Environments[0] == bg.Environments[1]:
				bad(k+".elasticbeanstalk.blue_green.environments", "must name two different environments")
			case bg.CNAMEPrefix == "":
				bad(k+".elasticbeanstalk.blue_green.cname_prefix", "required (the live CNAME is <cname_prefix>.<region>.elasticbeanstalk.com)")
			}
			if eb.Bucket == "" {
				bad(k+".elasticbeanstalk.bucket", "required")
			}
			switch eb.Dockerrun {
			case "":
				eb.Dockerrun = DockerrunV1
			case DockerrunV1, DockerrunV2:
			default:
				bad(k+".elasticbeanstalk.dockerrun", "must be v1 or v2, got %q", eb.Dockerrun)
			}
			if eb.Dockerrun == DockerrunV2 && eb.Container == "" {
				bad(k+".elasticbeanstalk.container", "required with dockerrun: v2 (the container whose image is replaced)")
			}
			for i, p := range eb.Ports {
				if p < 1 || p > 65535 {
					bad(fmt.Sprintf("%s.elasticbeanstalk.ports[%d]", k, i), "must be a port number, got %d", p)
				}
			}
			if a := eb.Authentication; a != nil && (a.Bucket == "" || a.Key == "") {
				bad(k+".elasticbeanstalk.authentication", "needs bucket and key")
			}
			errs = append(errs, validateBundle(key+k+".elasticbeanstalk.bundle", eb.Bundle)...)
			if err := CheckEBEnvVars(env.EnvVars); err != nil {
				bad(k+".env_vars", "%s", ErrorMessage(err))
			}
		}
		errs = append(errs, validateEnvVars(key+k+".env_vars", env.EnvVars)...)
		if env.RoleARN != "" && !strings.HasPrefix(env.RoleARN, "arn:") {
			bad(k+".role_arn", "must be an IAM role ARN, got %q", env.RoleARN)
		}
		for i, who := range env.Allow {
			if err := validateAllowEntry(who); err != nil {
				bad(fmt.Sprintf("%s.allow[%d]", k, i), "%v", err)
			}
		}
		validateApprovals(env, k, bad)
		if ad := env.AutoDeploy; ad != nil {
			if err := validateBranch(ad.Branch); err != nil {
				bad(k+".auto_deploy.branch", "%v", err)
			}
			if a.tag != nil && a.UsesGitTag() {
				bad(k+".auto_deploy", "deploys branch heads, but the tag template uses .Tag (only git tags can be deployed)")
			}
		}
	}
	return errs
}

// validateBranch checks a branch name as git's check-ref-format would
// take it, short form: what a push to refs/heads/<name> can carry.
func validateBranch(b string) error {
	switch {
	case b == "":
		return fmt.Errorf("required: the branch whose pushes deploy here, e.g. main")
	case strings.HasPrefix(b, "refs/"):
		return fmt.Errorf("the branch's name without refs/heads/, got %q", b)
	case strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") ||
		strings.HasPrefix(b, "-") || strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") || b == "@":
		return fmt.Errorf("%q is not a valid git branch name", b)
	}
	for _, r := range b {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return fmt.Errorf("%q is not a valid git branch name (it contains %q)", b, r)
		}
	}
	return nil
}

// AutoDeployEnvs returns the environments of every app of repo that

func validateAllowEntry(s string) error {
	kind, who, ok := strings.Cut(s, ":")
	if !ok || who == "" {
		return fmt.Errorf("want slack:<user id>, github:<login> or github-team:<org>/<team>, got %q", s)
	}
	switch kind {
	case "slack", "github":
		return nil
	case "github-team":
		if org, team, ok := strings.Cut(who, "/"); ok && org != "" && team != "" {
			return nil
		}
	}
	return fmt.Errorf("want slack:<user id>, github:<login> or github-team:<org>/<team>, got %q", s)
}
