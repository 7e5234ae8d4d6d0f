package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// sandboxFiles are what the sandbox writes so that the CLI (`deploybot
// deploy|check --config`) can be pointed at the running sandbox: the same
// config the bot runs, with its secrets and emulator endpoints in an env
// file, as an operator would keep them.
type sandboxFiles struct {
	Config string // deploybot.yaml
	Env    string // sandbox.env, KEY=value lines a POSIX shell can source
	Vars   map[string]string
}

func (s *sandbox) writeFiles(keyPEM []byte, githubAPI, awsURL string) (sandboxFiles, error) {
	keyFile := filepath.Join(s.dir, "github-app.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return sandboxFiles{}, err
	}
	f := sandboxFiles{
		Config: filepath.Join(s.dir, "deploybot.yaml"),
		Env:    filepath.Join(s.dir, "sandbox.env"),
		Vars: map[string]string{
			"GITHUB_API_URL":    githubAPI,
			"GITHUB_KEY_FILE":   keyFile,
			"SLACK_API_URL":     s.slack.APIURL(),
			"STORE":             s.cfg.Store,
			"REGISTRY":          s.oci.Host(),
			"REGISTRY_PASSWORD": sandboxRegistryPwd,
			// The AWS SDK reads these itself; deploybot's config has no
			// endpoint of its own.
			"AWS_ENDPOINT_URL":      awsURL,
			"AWS_ACCESS_KEY_ID":     "AKIASANDBOX",
			"AWS_SECRET_ACCESS_KEY": sandboxAWSSecret,
			"AWS_REGION":            "us-east-1",
		},
	}
	// A PEM spans lines, which an env file cannot hold; the file beside
	// it can. The registry's host is a map key, which ${VAR} does not
	// reach, so it is written as it is now.
	config := strings.NewReplacer(
		"private_key: ${GITHUB_KEY}", "private_key_file: ${GITHUB_KEY_FILE}",
		`public_url: "http://127.0.0.1:8080"`, fmt.Sprintf("public_url: %q", s.cfg.PublicURL),
	).Replace(sandboxConfig)
	config += fmt.Sprintf("registries:\n  %q:\n    username: acme+deploybot\n    password: ${REGISTRY_PASSWORD}\n", s.oci.Host())
	if err := os.WriteFile(f.Config, []byte(config), 0o600); err != nil {
		return sandboxFiles{}, err
	}
	var env strings.Builder
	env.WriteString("# Secrets and endpoints of the running sandbox, for deploybot's CLI:\n#   (set -a; . " + f.Env + "; deploybot check --config " + f.Config + ")\n")
	names := make([]string, 0, len(f.Vars))
	for name := range f.Vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// Single quotes keep a shell from expanding anything in the value.
		fmt.Fprintf(&env, "%s='%s'\n", name, strings.ReplaceAll(f.Vars[name], "'", `'\''`))
	}
	if err := os.WriteFile(f.Env, []byte(env.String()), 0o600); err != nil {
		return sandboxFiles{}, err
	}
	return f, nil
}

// printAccess tells a person where to look and what to type.
func (s *sandbox) printAccess(out io.Writer) {
	fmt.Fprintf(out, "\nsandbox: dashboard  %s/\n", s.bot.URL)
	if s.console != nil {
		fmt.Fprintf(out, "sandbox: console    %s/sandbox  (type /deploy as a seeded user, push commits, flip CI, make rollouts fail)\n", s.bot.URL)
	} else {
		// Anyone who reaches the console can deploy as anyone.
		fmt.Fprintln(out, "sandbox: no console: it is served only when the sandbox listens on loopback (--listen 127.0.0.1:PORT)")
	}
	fmt.Fprintf(out, "sandbox: config %s and env file %s; from the repository, in another terminal:\n", s.files.Config, s.files.Env)
	fmt.Fprintf(out, "  (set -a; . %s; go run ./cmd/deploybot check --config %s)\n", s.files.Env, s.files.Config)
	fmt.Fprintf(out, "  (set -a; . %s; go run ./cmd/deploybot deploy %s main dev --config %s)\n", s.files.Env, sandboxApp, s.files.Config)
}
