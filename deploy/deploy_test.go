// Package deploy holds how deploybot itself is run: Kubernetes manifests,
// a compose file with PostgreSQL, IAM policies, and the GitHub App and
// Slack app manifests. Its tests parse every file and hold it to the code:
// the IAM policies grant exactly the AWS operations deployer/ calls, the
// manifests name the routes handlers/ serves, the configs load.
package deploy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// configPath is where both the Kubernetes and the compose setups mount
// the config, and what the Dockerfile's CMD passes to serve.
const configPath = "/etc/deploybot/deploybot.yaml"

// repoRoot is the module root, seen from this package's directory (where
// go test runs).
const repoRoot = ".."

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkGOMEMLIMIT holds the Go runtime's soft memory limit to the
// container's hard one (limit, in bytes). Above 90 % of it the runtime
// cannot keep the process out of the OOM killer: what it does not count
// (the binary's mapped pages, memory freed but not yet returned) needs
// the rest. Below 75 % the GC runs hard while memory the container may
// use sits idle.
func checkGOMEMLIMIT(t *testing.T, where, gomemlimit string, limit int64) {
	t.Helper()
	if gomemlimit == "" {
		t.Errorf("%s: GOMEMLIMIT is not set; set it to about 80 %% of the memory limit (%d MiB)", where, limit>>20)
		return
	}
	soft, err := goMemLimitBytes(gomemlimit)
	if err != nil {
		t.Errorf("%s: GOMEMLIMIT: %v", where, err)
		return
	}
	if pct := float64(soft) / float64(limit) * 100; pct < 75 || pct > 90 {
		t.Errorf("%s: GOMEMLIMIT %s is %.0f %% of the memory limit (%d MiB); want 75–90 %%", where, gomemlimit, pct, limit>>20)
	}
}

// byteUnits parses <digits><unit> with the given unit multipliers.
func byteUnits(s string, units map[string]int64) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	mult, ok := units[s[i:]]
	if err != nil || !ok {
		return 0, fmt.Errorf("cannot read %q as a size", s)
	}
	return n * mult, nil
}

// k8sBytes reads a Kubernetes memory quantity (256Mi, 1G, 268435456).
func k8sBytes(s string) (int64, error) {
	return byteUnits(s, map[string]int64{
		"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
		"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
	})
}

// goMemLimitBytes reads GOMEMLIMIT as the Go runtime does (208MiB).
func goMemLimitBytes(s string) (int64, error) {
	return byteUnits(s, map[string]int64{
		"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	})
}

// composeBytes reads a compose byte value (256m, 1g, 512mb): binary units.
func composeBytes(s string) (int64, error) {
	return byteUnits(strings.ToLower(s), map[string]int64{
		"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
	})
}
