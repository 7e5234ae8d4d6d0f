package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Images in the OCI reference grammar pass; others are named.
func TestImageProblem(t *testing.T) {
	for image, ok := range map[string]bool{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/takumi-server": true,
		"quay.io/acme/api": true, "ghcr.io/acme/api": true, "docker.io/library/nginx": true,
		"registry.example.com:5000/api": true, "127.0.0.1:5000/team/api": true, "[::1]:5000/api": true,
		"localhost:5000/a__b.c-d": true,
		"quay.io/Acme/api":        false, "quay.io/acme/api-": false, "quay.io/acme//api": false,
		"quay_io/acme/api": false, "quay.io:port/acme": false,
	} {
		if got := imageProblem(image) == ""; got != ok {
			t.Errorf("imageProblem(%q) = %q; want accepted %v", image, imageProblem(image), ok)
		}
	}
}

// TestCheck holds Check to issue 18: every config serve would refuse is
// refused, every problem in one pass, one line per cause, sorted by line,
// at the line that is wrong; what is legal but likely a mistake is a
// warning; secrets are never quoted.
func TestCheck(t *testing.T) {
	const password = "hunter2-s3cret"
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				panic("the test config has no " + old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	tests := []struct {
		name      string
		edit      func(string) string
		env       map[string]string // over testEnv
		wantErrs  []string          // the whole refusal, line by line
		wantWarns []string
	}{
		{
			name: "valid", edit: func(s string) string { return s },
			wantWarns: []string{"line 23: apps.takumi-server.environments.dev: no allow list: anyone who can type /deploy in the workspace, or comment on the repository's pull requests, can deploy here"},
		},
		{
			name: "private key that does not parse", env: map[string]string{"KEY": "junk"},
			wantErrs: []string{"line 7: github.private_key: not a GitHub App private key: want the RSA key in PEM form (the .pem file GitHub gives, -----BEGIN RSA PRIVATE KEY-----)"},
		},
		{
			name: "private key file that does not exist", edit: replace("private_key: ${KEY}", "private_key_file: /nonexistent/deploybot.pem"),
			wantErrs: []string{"line 7: github.private_key_file: cannot read the key: open /nonexistent/deploybot.pem: no such file or directory"},
		},
		{
			name: "a typo'd key does not hide a bad template, and its consequence is not a second line",
			edit: func(s string) string {
				return replace("{{.ShortSHA}}", "{{.Sha}}")(replace("repo: takumi", "rep: takumi")(s))
			},
			wantErrs: []string{
				"line 17: apps.takumi-server.rep: unknown key (did you mean repo?)",
				`line 19: apps.takumi-server.tag: bad template (use .SHA, .ShortSHA or .Tag): template: tag:1:6: executing "tag" at <.Sha>: can't evaluate field Sha in type bot.TagData`,
			},
		},
		{
			name: "a typo of a mapping's key does not hide what is wrong inside the mapping",
			edit: func(s string) string {
				return replace("{{.ShortSHA}}", "{{.Sha}}")(replace("listen:", "app: web\nlisten:")(s))
			},
			wantErrs: []string{
				"line 2: app: unknown key (did you mean apps?)",
				`line 20: apps.takumi-server.tag: bad template (use .SHA, .ShortSHA or .Tag): template: tag:1:6: executing "tag" at <.Sha>: can't evaluate field Sha in type bot.TagData`,
			},
		},
		{
			name: "errors sorted by line, whichever check finds them",
			edit: func(s string) string {
				return replace("region: us-east-1", "region: us-east-9")(replace("ci_timeout: 10m", "ci_timeout: ten")(replace("listen:", "colour: blue\nlisten:")(s)))
			},
			wantErrs: []string{
				"line 2: colour: unknown key",
				`line 15: aws.region: "us-east-9" is not an AWS region (did you mean us-east-1?)`,
				`line 22: apps.takumi-server.ci_timeout: time: invalid duration "ten"`,
			},
		},
		{
			name: "an unset variable is one line", env: map[string]string{"APP_ID": ""},
			wantErrs: []string{"line 6: github.app_id: environment variable APP_ID is not set"},
		},
		{
			name:     "an unset variable used three times is one line",
			edit:     replace("signing_secret: s3cret\n  channel: \"#deploys\"", "signing_secret: ${HOOK}\n  channel: ${HOOK}"),
			env:      map[string]string{"HOOK": ""},
			wantErrs: []string{"line 8: github.webhook_secret: environment variable HOOK is not set (also used on lines 11, 12)"},
		},
		{
			name: "a key indented too far is reported on its own line", edit: replace("  private_key: ${KEY}", "   private_key: ${KEY}"),
			wantErrs: []string{"yaml: line 7: mapping values are not allowed in this context"},
		},
		{
			name: "a key indented too little is reported on its own line", edit: replace("  private_key: ${KEY}", " private_key: ${KEY}"),
			wantErrs: []string{"yaml: line 7: did not find expected key"},
		},
		{
			name: "a mapping entry inside a list is reported on its own line", edit: replace(`    checks: ["ci/codeship"]`, "    checks:\n      - ci/codeship\n      x: 1"),
			wantErrs: []string{"yaml: line 22: did not find expected '-' indicator"},
		},
		{
			name: "an environment nobody can type in Slack", edit: replace("      prod:", "      Prod Env:"),
			wantErrs: []string{"line 25: apps.takumi-server.environments.Prod Env: \"Prod Env\" cannot be typed as one word in `/deploy takumi-server <ref> Prod Env`: use letters, digits, '.', '_' and '-', starting with a letter or digit"},
		},
		{
			name: "a region of the right shape that does not exist", edit: replace("region: us-east-1", "region: us-east-9"),
			wantErrs: []string{`line 14: aws.region: "us-east-9" is not an AWS region (did you mean us-east-1?)`},
		},
		{
			name: "a region of the wrong shape", edit: replace("region: us-east-1", "region: virginia"),
			wantErrs: []string{`line 14: aws.region: "virginia" is not an AWS region: want one such as us-east-1`},
		},
		{
			name: "a PostgreSQL DSN that does not parse", edit: replace("listen:", "store: ${DATABASE_URL}\nlisten:"),
			env:      map[string]string{"DATABASE_URL": "postgres://deploybot:" + password + "@db.example.com:port/deploybot"},
			wantErrs: []string{`line 2: store: cannot parse postgres://deploybot:xxxxx@db.example.com:port/deploybot as a PostgreSQL URL: invalid port`},
		},
		{
			name: "a URL with no host", edit: replace(`api_url: "https://ghe.example.com/api/v3"`, `api_url: "https:///api/v3"`),
			wantErrs: []string{`line 5: github.api_url: "https:///api/v3/" names no host`},
		},
		{
			name: "an image no registry accepts", edit: replace("amazonaws.com/takumi-server", "amazonaws.com/Takumi_Server"),
			wantErrs: []string{`line 18: apps.takumi-server.image: "Takumi_Server" is not a valid repository name: each part is lower-case letters and digits, joined by '.', '_', '__' or '-'`},
		},
		{
			name: "a secret in a number is not quoted", edit: replace("app_id: ${APP_ID}", "app_id: ${HOOK}"),
			env:      map[string]string{"HOOK": password},
			wantErrs: []string{`line 6: github.app_id: want a whole number, got "${HOOK}"`},
		},
		{
			name: "a tag that every push moves, an open dashboard",
			edit: func(s string) string {
				return replace(`tag: "git_{{.ShortSHA}}"`, "tag: latest")(s) + "dashboard: {public: true}\n"
			},
			wantWarns: []string{
				`line 19: apps.takumi-server.tag: every commit gets the same tag "latest", which a push moves: a deploy cannot promise the commit it was asked for; put {{.ShortSHA}} or {{.SHA}} in it`,
				"line 23: apps.takumi-server.environments.dev: no allow list: anyone who can type /deploy in the workspace, or comment on the repository's pull requests, can deploy here",
				"line 31: dashboard.public: the dashboard, /api and /metrics are open to anyone who reaches the bot; set a token or a username and password instead, unless only a trusted network reaches it",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edit := tt.edit
			if edit == nil {
				edit = func(s string) string { return s }
			}
			getenv := func(k string) string {
				if v, ok := tt.env[k]; ok {
					return v
				}
				return testEnv(k)
			}
			r, err := Check([]byte(edit(validConfig)), getenv)
			var gotErrs, gotWarns []string
			if err != nil {
				gotErrs = strings.Split(err.Error(), "\n")
				if strings.Contains(err.Error(), password) {
					t.Errorf("the refusal quotes the password: %v", err)
				}
			} else {
				for _, w := range r.Warnings {
					gotWarns = append(gotWarns, w.Error())
				}
			}
			if diff := cmp.Diff(tt.wantErrs, gotErrs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarns, gotWarns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
