package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

var yamlLinePrefix = regexp.MustCompile(`^yaml: line \d+: `)

// withLine gives a YAML syntax error the line where the file goes wrong.
// yaml.v3 leaves the line out of some errors (one on the first line, a
// character it cannot read, an unknown anchor), and reports others at the
// start of the block they break: a key indented one space too far on line
// 5 is "line 4: did not find expected key", a mapping inside a list
// reports the list's key. The line given here is the first one up to which
// the file fails with the same message: the line that broke it.
func withLine(data []byte, err error) error {
	msg := yamlMessage(err)
	if msg == "" {
		return err
	}
	// Failing is not monotone in the prefix (an unclosed quote fails until
	// it is closed), so the prefixes are tried in order. Configs are
	// short; a huge file keeps yaml.v3's line.
	if len(data) > 1<<20 {
		return err
	}
	for end, line := 0, 1; end < len(data); line++ {
		if next := bytes.IndexByte(data[end:], '\n'); next >= 0 {
			end += next + 1
		} else {
			end = len(data)
		}
		var doc yaml.Node
		if e := yaml.Unmarshal(data[:end], &doc); e != nil && yamlMessage(e) == msg {
			return fmt.Errorf("yaml: line %d: %s", line, msg)
		}
	}
	return err
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
