package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkCheck is what `deploybot check` and serve's start-up spend on
// the config: the shipped example, a config of 200 apps, and that config
// broken by a syntax error on its last line, where withLine re-parses
// every prefix of the file to find the line.
func BenchmarkCheck(b *testing.B) {
	example, err := os.ReadFile("../deploybot.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	env := func(k string) string {
		if strings.HasSuffix(k, "_ID") {
			return "12345"
		}
		if strings.HasSuffix(k, "PRIVATE_KEY") {
			return testKey()
		}
		return "x-" + k
	}
	var big strings.Builder
	big.WriteString(strings.SplitN(validConfig, "apps:\n", 2)[0] + "apps:\n")
	for i := range 200 {
		fmt.Fprintf(&big, "  app%d:\n    repo: o/app%d\n    image: quay.io/o/app%d\n    tag: \"git_{{.ShortSHA}}\"\n    environments:\n      dev: {ecs: {cluster: c, service: s%d, container: c}, allow: [\"github:o\"]}\n", i, i, i, i)
	}
	for _, c := range []struct {
		name  string
		data  string
		valid bool
	}{
		{"example", string(example), true},
		{"200 apps", big.String(), true},
		{"200 apps, syntax error on the last line", big.String() + "  x: [\n", false},
	} {
		b.Run(c.name, func(b *testing.B) {
			getenv := testEnv
			if c.name == "example" {
				getenv = env
			}
			for b.Loop() {
				if _, err := Check([]byte(c.data), getenv); (err == nil) != c.valid {
					b.Fatalf("Check: %v", err)
				}
			}
		})
	}
}
