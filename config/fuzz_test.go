package config

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

// fuzzEnv holds every variable the seed configs name. No value is itself
// a variable name, so that expanding ${${APP_ID}} cannot make a new
// reference.
func fuzzEnv(name string) string {
	return map[string]string{
		"APP_ID":                 "12345",
		"GITHUB_APP_ID":          "12345",
		"KEY":                    testKey(),
		"GITHUB_APP_PRIVATE_KEY": testKey(),
		"GITHUB_KEY":             testKey(),
		"HOOK":                   "hook secret # not a comment",
		"GITHUB_WEBHOOK_SECRET":  "w-1",
		"SLACK_BOT_TOKEN":        "xoxb-1",
		"SLACK_SIGNING_SECRET":   "s-1",
		"STORE":                  "sqlite:/tmp/deploybot.db",
		"GITHUB_API_URL":         "http://127.0.0.1:1/api/v3/",
		"SLACK_API_URL":          "http://127.0.0.1:2/api/",
	}[name]
}

// sameRefs expands every ${NAME} to itself: a config written back from a
// parsed one reads the same.
func sameRefs(name string) string { return "${" + name + "}" }

// FuzzParseConfig feeds Parse any bytes, seeded with the configs
// deploybot ships and tests. Properties: it never panics and is
// deterministic. When it refuses a file, every problem names the key or
// the line it is about (the only exception: a file with no YAML document
// at all). When it accepts one, the config is valid as it stands (Validate
// finds nothing more and changes nothing), and written back as YAML it is
// accepted again as the same config.
//
// Run it with: go test -run='^$' -fuzz=FuzzParseConfig -fuzztime=30s ./config
func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile("../deploybot.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{string(example), validConfig}
	for _, edit := range [][2]string{
		// The mistakes of TestParseErrors.
		{"auto_rollback: true", "auto_rollback: true\n        autorollback: true"},
		{"        role_arn:", "        elasticbeanstalk: {application: a, environment: b, bucket: c}\n        role_arn:"},
		{"        elasticbeanstalk: {application: takumi-server, environment: takumi-srv-dev, bucket: eb-bucket}\n", "        channel: '#x'\n"},
		{", container: api", ""},
		{"{{.ShortSHA}}", "{{.Sha}}"},
		{"{{.ShortSHA}}", "{{.ShortSHA"},
		{"${HOOK}", "${NOPE}"},
		{"ci_timeout: 10m", "ci_timeout: ten"},
		{`"github:octocat"`, `"octocat"`},
		{"region: us-east-1", "regoin: us-east-1"},
		{"repo: takumi", "rep: takumi"},
		// And some more.
		{"app_id: ${APP_ID}", "app_id: ${APP_ID}${APP_ID}"},
		{"app_id: ${APP_ID}", "app_id: 0x10"},
		{"app_id: ${APP_ID}", "app_id: [1]"},
		{"auto_rollback: true", "auto_rollback: yes"},
		{"signing_secret: s3cret", "signing_secret: &a s3cret\n  channel: *a"},
		{"apps:", "apps: ~\nx:"},
		{"apps:\n", "apps:\n  <<: {web: {repo: a/b}}\n"},
		{"elasticbeanstalk: {", "elasticbeanstalk: {ports: [0, 8080, 65536], dockerrun: v2, "},
		{"ci_timeout: 10m", "ci_timeout: -1s"},
		{`tag: "git_{{.ShortSHA}}"`, `tag: "{{printf \"%s\" .SHA}}"`},
	} {
		seeds = append(seeds, strings.Replace(validConfig, edit[0], edit[1], 1))
	}
	seeds = append(seeds, validConfig+"colour: blue\n", "", "# only a comment\n", "---\n...\n", "null", "[]", "x", "{", "apps: {a: {environments: {e: {timeout: 1h}}}}")
	// Errors that named neither key nor line: YAML syntax errors on the
	// first line, characters YAML cannot read and unknown anchors (found
	// by the fuzzer: testdata/fuzz/FuzzParseConfig), and explicit tags
	// that do not fit their value.
	seeds = append(seeds, "\t", "listen: x\nstore: \x01\n", "listen: x\nstore: \xff\n", "listen: x\nstore: *x\n",
		"listen: !!binary '%%%'", "listen: x\nstore: !!float abc\n", "github:\n  app_id: !!int abc\n", "dashboard: {token: !!bool yes}")
	for _, s := range seeds {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, fuzzEnv)
		again, errAgain := Parse(data, fuzzEnv)
		if errorText(err) != errorText(errAgain) || (cfg == nil) != (again == nil) {
			t.Fatalf("Parse is not deterministic:\n%v\n--- then ---\n%v", err, errAgain)
		}
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a config with the error %v", err)
			}
			for _, leaf := range leafErrors(err) {
				if !namesKeyOrLine(leaf) {
					t.Fatalf("the error %q (%T) names neither a key nor a line; in full:\n%v", leaf, leaf, err)
				}
			}
			return
		}

		if diff := cmp.Diff(cfg, again, cmpopts.IgnoreUnexported(bot.App{})); diff != "" {
			t.Fatalf("Parse is not deterministic (-first +second):\n%s", diff)
		}
		if errs := cfg.Validate(); len(errs) > 0 {
			t.Fatalf("accepted, but Validate then finds %v", errs)
		}
		if diff := cmp.Diff(again, cfg, cmpopts.IgnoreUnexported(bot.App{})); diff != "" {
			t.Fatalf("Validate changed an accepted config (-before +after):\n%s", diff)
		}

		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal the accepted config: %v", err)
		}
		reread, err := Parse(out, sameRefs)
		if err != nil {
			t.Fatalf("the accepted config, written back, is refused: %v\n%s", err, out)
		}
		if diff := cmp.Diff(cfg, reread, cmpopts.IgnoreUnexported(bot.App{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("the accepted config, written back, reads differently (-first +reread):\n%s\n%s", diff, out)
		}
	})
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// leafErrors flattens errors.Join.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

var yamlLine = regexp.MustCompile(`^yaml: line \d+: `)

func namesKeyOrLine(err error) bool {
	var ce *bot.ConfigError
	var te *yaml.TypeError
	switch {
	case errors.As(err, &ce):
		return ce.Key != "" || ce.Line > 0
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			if !strings.HasPrefix(msg, "line ") {
				return false
			}
		}
		return len(te.Errors) > 0
	case err.Error() == "the file is empty":
		return true
	}
	return yamlLine.MatchString(err.Error())
}
