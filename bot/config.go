package bot

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"
)

// Config is deploybot's whole configuration, as in DESIGN.md. The YAML
// loading lives in cmd; this package only knows the shape and the rules.
type Config struct {
	Listen    string          `yaml:"listen"`
	PublicURL string          `yaml:"public_url"`
	Store     string          `yaml:"store"`
	GitHub    GitHubConfig    `yaml:"github"`
	Slack     SlackConfig     `yaml:"slack"`
	AWS       AWSConfig       `yaml:"aws"`
	Timing    TimingConfig    `yaml:"timing"`
	Dashboard DashboardConfig `yaml:"dashboard"`
	// Registries holds credentials for registries outside ECR, by host.
	Registries map[string]*RegistryConfig `yaml:"registries"`
	Apps       map[string]*App            `yaml:"apps"`
}

// DashboardConfig protects the dashboard, its JSON API and /metrics. They
// show who deploys what, the AWS accounts, digests and failure reasons,
// so without credentials they answer 401 unless Public says they may be
// open to whoever reaches the bot. Health checks are always open.
type DashboardConfig struct {
	// Public serves them without credentials: for a bot reachable only
	// from a trusted network (the sandbox, on loopback).
	Public bool `yaml:"public"`
	// Token is accepted as "Authorization: Bearer <token>".
	Token string `yaml:"token"`
	// Username and Password are accepted as HTTP basic auth, for browsers.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// HasCredentials reports whether any credentials are configured.
func (c DashboardConfig) HasCredentials() bool {
	return c.Token != "" || c.Username != "" || c.Password != ""
}

// TimingConfig tunes the polls and leases; the defaults suit production,
// and tests and the sandbox shorten them. Every poll backs off from its
// first interval.
type TimingConfig struct {
	// Lease is how long a replica holds a deployment without renewing;
	// a crashed replica's deployments are resumed that long after.
	Lease Duration `yaml:"lease"`
	// QueuePoll is how often queued deployments and unclaimed work are
	// looked at when no event here wakes them.
	QueuePoll Duration `yaml:"queue_poll"`
	// CIPoll is the first interval between reads of a pending CI result
	// (webhooks wake the wait sooner); it backs off to 6 times as much.
	CIPoll Duration `yaml:"ci_poll"`
	// RolloutPoll is the first interval between reads of a rollout's
	// progress; it backs off to 6 times as much.
	RolloutPoll Duration `yaml:"rollout_poll"`
}

type GitHubConfig struct {
	APIURL         string `yaml:"api_url"`
	AppID          int64  `yaml:"app_id"`
	PrivateKey     string `yaml:"private_key"`
	PrivateKeyFile string `yaml:"private_key_file"`
	WebhookSecret  string `yaml:"webhook_secret"`
	// PreviousWebhookSecrets are still accepted while a new webhook_secret
	// rolls out (GitHub signs with one secret; rotating it is not atomic).
	PreviousWebhookSecrets []string `yaml:"previous_webhook_secrets"`
	Token                  string   `yaml:"token"`
	// ClientID and ClientSecret are the App's OAuth client: with them the
	// dashboard signs people in with GitHub and offers them its buttons.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
}

type SlackConfig struct {
	APIURL        string `yaml:"api_url"`
	BotToken      string `yaml:"bot_token"`
	SigningSecret string `yaml:"signing_secret"`
	Channel       string `yaml:"channel"`
	// TeamID, EnterpriseID and APIAppID, when set, pin the workspace,
	// Enterprise Grid organisation and Slack app requests must come from;
	// others are refused even when signed.
	TeamID       string `yaml:"team_id"`
	EnterpriseID string `yaml:"enterprise_id"`
	APIAppID     string `yaml:"api_app_id"`
}

type AWSConfig struct {
	Region string `yaml:"region"`
}

type App struct {
	Name         string                  `yaml:"-"`
	Repo         string                  `yaml:"repo"`
	Image        string                  `yaml:"image"`
	Tag          string                  `yaml:"tag"`
	Checks       []string                `yaml:"checks"`
	CIPassStates []CheckState            `yaml:"ci_pass_states"` // neutral/skipped also count as passed
	CITimeout    Duration                `yaml:"ci_timeout"`
	Environments map[string]*Environment `yaml:"environments"`

	tag *template.Template
}

type Environment struct {
	Name             string     `yaml:"-"`
	App              string     `yaml:"-"`
	ECS              *ECSTarget `yaml:"ecs"`
	ElasticBeanstalk *EBTarget  `yaml:"elasticbeanstalk"`
	RoleARN          string     `yaml:"role_arn"`
	Allow            []string   `yaml:"allow"`
	AutoRollback     bool       `yaml:"auto_rollback"`
	Channel          string     `yaml:"channel"`
	Timeout          Duration   `yaml:"timeout"`
	// AutoDeploy deploys each new head of a branch once its CI is green.
	AutoDeploy *AutoDeploy `yaml:"auto_deploy"`
	// EnvVars are set on the container (ECS) or the environment (EB) with
	// each deploy. Their values are secrets: never logged nor shown.
	EnvVars map[string]string `yaml:"env_vars"`
	// Approvals is how many people, other than the requester and each
	// allowed on the env, must approve a deployment once its CI passed;
	// ApprovalTimeout how long they have before it fails.
	Approvals       int      `yaml:"approvals"`
	ApprovalTimeout Duration `yaml:"approval_timeout"`
}

// AutoDeploy is an environment's continuous delivery: every push to
// Branch of the app's repository becomes a deployment, the newest
// superseding older ones that have not reached AWS.
type AutoDeploy struct {
	Branch string `yaml:"branch"`
}

type ECSTarget struct {
	Cluster   string `yaml:"cluster"`
	Service   string `yaml:"service"`
	Container string `yaml:"container"`
}

type EBTarget struct {
	Application string `yaml:"application"`
	Environment string `yaml:"environment"`
	Bucket      string `yaml:"bucket"`
	// KeyPrefix is prepended to the Dockerrun.aws.json object keys.
	KeyPrefix string `yaml:"key_prefix"`
	// Dockerrun is "v1" (one container, the default) or "v2" (multi-container:
	// the current version's containerDefinitions with Container's image replaced).
	Dockerrun string `yaml:"dockerrun"`
	// Ports are the container ports of a v1 Dockerrun.
	Ports []int `yaml:"ports"`
	// Container names the containerDefinitions entry a v2 Dockerrun updates.
	Container string `yaml:"container"`
	// Authentication is the S3 object with registry credentials, for images
	// outside ECR.
	Authentication *EBAuthentication `yaml:"authentication"`
	// Bundle lists repository paths (.ebextensions, .platform) shipped in
	// the source bundle beside Dockerrun.aws.json, read at the deployed
	// commit, so that they roll back with the version.
	Bundle []string `yaml:"bundle"`
	// BlueGreen, when set, deploys to whichever of its two environments
	// does not hold the live CNAME, then swaps CNAMEs; Environment is
	// then left empty.
	BlueGreen *EBBlueGreen `yaml:"blue_green"`
}

// EBBlueGreen is a pair of environments of one application that take
// turns serving CNAMEPrefix.elasticbeanstalk.com-style traffic.
type EBBlueGreen struct {
	Environments []string `yaml:"environments"`
	CNAMEPrefix  string   `yaml:"cname_prefix"`
}

type EBAuthentication struct {
	Bucket string `yaml:"bucket"`
	Key    string `yaml:"key"`
}

// Dockerrun versions.
const (
	DockerrunV1 = "v1"
	DockerrunV2 = "v2"
)

// Target kinds, the keys of Pipeline.Deployers.
const (
	TargetECS              = "ecs"
	TargetElasticBeanstalk = "elasticbeanstalk"
)

// TargetKind returns which deployer runs this environment.
func (e *Environment) TargetKind() string {
	if e.ECS != nil {
		return TargetECS
	}
	return TargetElasticBeanstalk
}

// Duration is a time.Duration written as "30m" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Defaults applied when a field is left out.
const (
	DefaultListen          = ":8080"
	DefaultStore           = "sqlite:deploybot.db"
	DefaultGitHubAPIURL    = "https://api.github.com/"
	DefaultSlackAPIURL     = "https://slack.com/api/"
	DefaultCITimeout       = 30 * time.Minute
	DefaultDeployTimeout   = 30 * time.Minute
	DefaultApprovalTimeout = time.Hour
)

func (c *Config) AutoDeployEnvs(repo, branch string) []*Environment {
	var envs []*Environment
	for _, app := range c.AppsForRepo(repo) {
		for _, name := range app.EnvNames() {
			if env := app.Environments[name]; env.AutoDeploy != nil && env.AutoDeploy.Branch == branch {
				envs = append(envs, env)
			}
		}
	}
	return envs
}

// TagData is what a tag template can use.
type TagData struct {
	SHA      string
	ShortSHA string
	// Tag is the git tag the request named (v1.2.3).
	Tag string
}

const sampleSHA = "0000000000000000000000000000000000000000"

func parseTagTemplate(s string) (*template.Template, error) {
	t, err := template.New("tag").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bad template: %w", err)
	}
	// Executing with a sample catches unknown fields such as {{.Sha}}.
	var b strings.Builder
	if err := t.Execute(&b, TagData{SHA: sampleSHA, ShortSHA: sampleSHA[:7], Tag: "v0.0.0"}); err != nil {
		return nil, fmt.Errorf("bad template (use .SHA, .ShortSHA or .Tag): %w", err)
	}
	if !validImageTag(b.String()) {
		return nil, fmt.Errorf("template yields %q, not a valid image tag", b.String())
	}
	return t, nil
}

// validImageTag follows the OCI distribution spec: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validImageTag(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '-')
		if !ok {
			return false
		}
	}
	return true
}

// ImageTag renders the app's tag template for sha, reached through
// gitTag when the request named a tag.
func (a *App) ImageTag(sha, gitTag string) (string, error) {
	t := a.tag
	if t == nil {
		var err error
		if t, err = parseTagTemplate(a.Tag); err != nil {
			return "", err
		}
		a.tag = t
	}
	short := sha
	if len(short) > 7 {
		short = short[:7]
	}
	// A GitHub Deployment created by another tool may give the full ref.
	gitTag = strings.TrimPrefix(gitTag, "refs/tags/")
	var b strings.Builder
	if err := t.Execute(&b, TagData{SHA: sha, ShortSHA: short, Tag: gitTag}); err != nil {
		return "", fmt.Errorf("tag template of app %s: %w", a.Name, err)
	}
	if !validImageTag(b.String()) {
		return "", Errorf(EINVALID, "app %s's tag template makes %q of git tag %q, which is not a valid image tag", a.Name, b.String(), gitTag)
	}
	return b.String(), nil
}

// ParseImage splits an image repository (an ECR repository URI
// 123456789012.dkr.ecr.us-east-1.amazonaws.com/name, or quay.io/acme/api) into registry host
// and repository name.
func ParseImage(image string) (registry, repository string, err error) {
	registry, repository, ok := strings.Cut(image, "/")
	if !ok || registry == "" || repository == "" {
		return "", "", fmt.Errorf("want <registry>/<repository>, got %q", image)
	}
	if strings.ContainsAny(image, "@:") && strings.ContainsAny(repository, "@:") {
		return "", "", fmt.Errorf("give the repository without tag or digest, got %q", image)
	}
	return registry, repository, nil
}

// Lookup returns the app and environment, or an ENOTFOUND error naming what
// is unknown, the likely typo of it, and what is known.
func (c *Config) Lookup(app, env string) (*App, *Environment, error) {
	a, ok := c.Apps[app]
	if !ok {
		if near, ok := closest(app, c.AppNames()); ok {
			return nil, nil, Errorf(ENOTFOUND, "unknown app %q; did you mean %s? Known apps: %s", app, near, strings.Join(c.AppNames(), ", "))
		}
		return nil, nil, Errorf(ENOTFOUND, "unknown app %q; known apps: %s", app, strings.Join(c.AppNames(), ", "))
	}
	e, ok := a.Environments[env]
	if !ok {
		if near, ok := closest(env, a.EnvNames()); ok {
			return nil, nil, Errorf(ENOTFOUND, "app %s has no environment %q; did you mean %s? Its environments: %s", app, env, near, strings.Join(a.EnvNames(), ", "))
		}
		return nil, nil, Errorf(ENOTFOUND, "app %s has no environment %q; its environments: %s", app, env, strings.Join(a.EnvNames(), ", "))
	}
	return a, e, nil
}

// AppNames returns the configured app names, sorted.
func (c *Config) AppNames() []string {
	names := make([]string, 0, len(c.Apps))
	for n := range c.Apps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EnvNames returns the app's environment names, sorted.
func (a *App) EnvNames() []string {
	names := make([]string, 0, len(a.Environments))
	for n := range a.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AppsForRepo returns the apps deployed from repo (owner/name), sorted by name.
func (c *Config) AppsForRepo(repo string) []*App {
	var apps []*App
	for _, n := range c.AppNames() {
		if strings.EqualFold(c.Apps[n].Repo, repo) {
			apps = append(apps, c.Apps[n])
		}
	}
	return apps
}

// WebhookSecrets are the secrets a GitHub webhook may be signed with, the
// current one first.
func (g *GitHubConfig) WebhookSecrets() []string {
	var out []string
	for _, s := range append([]string{g.WebhookSecret}, g.PreviousWebhookSecrets...) {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
