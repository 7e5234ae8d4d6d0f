package deploy

import (
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"gopkg.in/yaml.v3"
)

var envRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)

// checkConfig holds a deploybot config to what `deploybot serve` requires:
// it loads with deploybot's own loader (no unknown key, every value of the
// right kind, Validate passes) once every ${VAR} it names is filled; each
// of those variables is set in the process's environment (set); its store
// is ${DATABASE_URL}, PostgreSQL; and its dashboard has credentials, taken
// from the environment. It returns the config, or nil when it does not
// load.
func checkConfig(t *testing.T, name string, data []byte, set map[string]bool) *bot.Config {
	t.Helper()
	cfg, err := config.Parse(data, func(v string) string {
		if !set[v] {
			t.Errorf("%s: uses ${%s}, which the container's environment does not set", name, v)
		}
		return placeholderFor(v)
	})
	if err != nil {
		t.Errorf("%s: does not load as deploybot's config:\n%v", name, err)
		return nil
	}
	// The loader expands variables; what the file says is read apart.
	var raw struct {
		Store     string            `yaml:"store"`
		Dashboard map[string]string `yaml:"dashboard"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if raw.Store != "${DATABASE_URL}" {
		t.Errorf("%s: store = %q, want ${DATABASE_URL} (PostgreSQL, from the Secret)", name, raw.Store)
	}
	if !strings.HasPrefix(cfg.Store, "postgres://") {
		t.Errorf("%s: store %q is not PostgreSQL", name, cfg.Store)
	}
	// The dashboard, /api and /metrics are closed without credentials: a
	// production config sets some, from the environment, and is not
	// public (which is for the sandbox on loopback).
	if cfg.Dashboard.Public || !cfg.Dashboard.HasCredentials() {
		t.Errorf("%s: dashboard: want credentials (token, or username and password) and no public: true; got public %v", name, cfg.Dashboard.Public)
	}
	for _, k := range []string{"token", "password"} {
		if v, ok := raw.Dashboard[k]; ok && !envRef.MatchString(v) {
			t.Errorf("%s: dashboard.%s is written in the file; take it from a Secret as ${VAR}", name, k)
		}
	}
	return cfg
}

// placeholderFor is a value of the right shape for an environment
// variable the configs reference.
func placeholderFor(v string) string {
	switch {
	case v == "DATABASE_URL":
		return "postgres://deploybot:secret@postgres:5432/deploybot"
	case strings.HasSuffix(v, "_ID"):
		return "12345"
	case strings.HasSuffix(v, "_PRIVATE_KEY"):
		return string(appKeyPEM())
	}
	return "placeholder-" + strings.ToLower(v)
}

// appKeyPEM is a GitHub App key, made once: the loader parses it as serve
// does.
var appKeyPEM = sync.OnceValue(func() []byte {
	_, pemBytes, err := githubemu.GenerateKey()
	if err != nil {
		panic(err)
	}
	return pemBytes
})
