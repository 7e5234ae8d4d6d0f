package sqldb

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

// The partial indexes of unfinished deployments serve the queries only
// while their predicate reads as the queries' (terminalStates): a
// planner does not prove one NOT IN list from another. A new terminal
// state must rebuild them all.
func TestIndexPredicatesMatchTerminalStates(t *testing.T) {
	create := regexp.MustCompile(`(?s)CREATE INDEX (\w+) ON deployments[^;]*?WHERE state NOT IN (\([^)]*\))`)
	drop := regexp.MustCompile(`DROP INDEX (\w+)`)
	for _, db := range []string{"sqlite", "postgres"} {
		files, err := filepath.Glob(filepath.Join("..", "..", db, "migration", "*.sql"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s migrations: %v", db, err)
		}
		sort.Strings(files)
		predicates := map[string]string{}
		for _, f := range files {
			sql, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range drop.FindAllStringSubmatch(string(sql), -1) {
				delete(predicates, m[1])
			}
			for _, m := range create.FindAllStringSubmatch(string(sql), -1) {
				predicates[m[1]] = m[2]
			}
		}
		if len(predicates) == 0 {
			t.Fatalf("%s: no partial index of unfinished deployments found", db)
		}
		for name, p := range predicates {
			if p != terminalStates {
				t.Errorf("%s: index %s is on state NOT IN %s, the queries say %s", db, name, p, terminalStates)
			}
		}
	}
}
