package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

var yamlLinePrefix = regexp.MustCompile(`^yaml: line \d+: `)

// withLine gives a YAML syntax error the line where the file goes wrong.
// yaml.v3 leaves the line out of some errors (one on the first line, a
// character it cannot read, an unknown anchor), and reports others at the
// start of the block they break: a key indented one space too little on
// line 7 is "line 6: did not find expected key", a mapping entry inside a
// list reports the list's key. The line given here is the first one up to
// which the file fails with the same message: the line that broke it.
func withLine(data []byte, err error) error {
	msg := yamlMessage(err)
	if msg == "" {
		return err
	}
	var ends []int // of each line, newline included
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] < len(data) {
		ends = append(ends, len(data))
	}
	// Prefixes that end before the line that broke the file parse, or fail
	// otherwise; once a prefix holds it, longer ones fail the same way. So
	// a binary search finds it in a few parses, where trying every prefix
	// took seconds on a long file.
	n := sort.Search(len(ends), func(i int) bool {
		var doc yaml.Node
		e := yaml.Unmarshal(data[:ends[i]], &doc)
		return e != nil && yamlMessage(e) == msg
	})
	if n == len(ends) {
		return err
	}
	return fmt.Errorf("yaml: line %d: %s", n+1, msg)
}

// yamlMessage is a yaml.v3 syntax error without its "yaml: line N: ", or
// "" for another error.
func yamlMessage(err error) string {
	full := err.Error()
	if !strings.HasPrefix(full, "yaml: ") {
		return ""
	}
	if loc := yamlLinePrefix.FindStringIndex(full); loc != nil {
		return full[loc[1]:]
	}
	return strings.TrimPrefix(full, "yaml: ")
}
