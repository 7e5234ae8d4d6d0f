package deploy

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type composeService struct {
	Image       string             `yaml:"image"`
	Build       any                `yaml:"build"`
	Command     []string           `yaml:"command"`
	Environment map[string]*string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Volumes  []string `yaml:"volumes"`
	ReadOnly bool     `yaml:"read_only"`
	MemLimit string   `yaml:"mem_limit"`
}

func TestCompose(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]composeService `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	pg, ok := f.Services["postgres"]
	if !ok {
		t.Fatal("compose.yaml has no postgres service")
	}
	if pg.Image != "postgres:15" {
		t.Errorf("postgres image = %q, want postgres:15", pg.Image)
	}
	if pg.Healthcheck == nil || len(pg.Healthcheck.Test) == 0 || pg.Healthcheck.Test[0] == "NONE" {
		t.Error("postgres has no healthcheck")
	}
	dataVolume := ""
	for _, v := range pg.Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/var/lib/postgresql/data") {
			dataVolume = src
		}
	}
	if dataVolume == "" {
		t.Error("postgres keeps its data in no volume (/var/lib/postgresql/data)")
	} else if !strings.ContainsAny(dataVolume, "./") && !hasKey(f.Volumes, dataVolume) {
		t.Errorf("postgres volume %q is not declared under volumes:", dataVolume)
	}

	svc, ok := f.Services["deploybot"]
	if !ok {
		t.Fatal("compose.yaml has no deploybot service")
	}
	if svc.Image == "" && svc.Build == nil {
		t.Error("deploybot has neither image nor build")
	}
	if d, ok := svc.DependsOn["postgres"]; !ok || d.Condition != "service_healthy" {
		t.Error("deploybot does not depend on postgres being healthy (depends_on.postgres.condition: service_healthy)")
	}
	if want := []string{"serve", "--config", configPath}; !slices.Equal(svc.Command, want) {
		t.Errorf("deploybot command = %q, want %q", svc.Command, want)
	}
	if !svc.ReadOnly {
		t.Error("deploybot's root filesystem is not read_only")
	}
	configFile := ""
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == configPath {
			configFile = parts[0]
		}
	}
	if configFile == "" {
		t.Fatalf("deploybot mounts nothing at %s", configPath)
	}
	if configFile != "./compose/deploybot.yaml" {
		t.Errorf("deploybot mounts its config from %s, want ./compose/deploybot.yaml", configFile)
	}
	config, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for k := range svc.Environment {
		set[k] = true
	}
	checkConfig(t, configFile, config, set)

	// Secrets come from the environment, never from the file.
	for _, k := range []string{"GITHUB_APP_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DEPLOYBOT_DASHBOARD_TOKEN", "DEPLOYBOT_DASHBOARD_PASSWORD"} {
		if v := svc.Environment[k]; v == nil || !strings.HasPrefix(*v, "${"+k) {
			t.Errorf("deploybot env %s is not taken from the environment (${%s…})", k, k)
		}
	}
	// A memory limit, and the Go runtime told to stay below it.
	if svc.MemLimit == "" {
		t.Error("deploybot has no mem_limit")
	} else if limit, err := composeBytes(svc.MemLimit); err != nil {
		t.Errorf("deploybot mem_limit: %v", err)
	} else {
		gomemlimit := ""
		if v := svc.Environment["GOMEMLIMIT"]; v != nil {
			gomemlimit = *v
		}
		checkGOMEMLIMIT(t, "compose's deploybot", gomemlimit, limit)
	}
	// DATABASE_URL points at the postgres service, its user and database.
	dbURL := svc.Environment["DATABASE_URL"]
	if dbURL == nil {
		t.Fatal("deploybot env has no DATABASE_URL")
	}
	u, err := url.Parse(regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(*dbURL, "x"))
	if err != nil {
		t.Fatalf("DATABASE_URL %q: %v", *dbURL, err)
	}
	pgEnv := func(k string) string {
		if v := pg.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if u.Scheme != "postgres" || u.Hostname() != "postgres" || u.User.Username() != pgEnv("POSTGRES_USER") || strings.TrimPrefix(u.Path, "/") != pgEnv("POSTGRES_DB") {
		t.Errorf("DATABASE_URL %q does not name the postgres service with POSTGRES_USER %q and POSTGRES_DB %q", *dbURL, pgEnv("POSTGRES_USER"), pgEnv("POSTGRES_DB"))
	}

	// Every variable compose insists on (${VAR:?…}) is in the env example.
	example, err := os.ReadFile("compose/env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+):\?`).FindAllStringSubmatch(string(data), -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).Match(example) {
			t.Errorf("compose.yaml requires %s; compose/env.example does not list it", m[1])
		}
	}
}
