// Package config reads deploybot's YAML file into a bot.Config: it expands
// ${VAR} from the environment, refuses unknown keys and values of the
// wrong kind, and reports every problem at once with its key and line.
package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/deploybot/deploybot/bot"
	"gopkg.in/yaml.v3"
)

// Load reads the YAML file at path, expands ${VAR} from getenv in
// scalar values, and validates it. Every problem found is returned at once,
// each naming its key and line.
func Load(path string, getenv func(string) string) (*bot.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	return cfg, nil
}

// Parse is Load for a file already read.
func Parse(data []byte, getenv func(string) string) (*bot.Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, withLine(data, err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	root := doc.Content[0]
	lines := map[string]int{}
	var errs []error
	// Expanding after parsing, inside scalars only, keeps a multi-line PEM
	// key or a secret containing YAML syntax from changing the document.
	walkConfig(root, reflect.TypeOf(bot.Config{}), "", lines, func(key string, line int, msg string) {
		errs = append(errs, &bot.ConfigError{Key: key, Line: line, Message: msg})
	}, getenv)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var cfg bot.Config
	if err := root.Decode(&cfg); err != nil {
		return nil, err
	}
	for _, e := range cfg.Validate() {
		e.Line = lineOf(lines, e.Key)
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &cfg, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// walkConfig checks every mapping key against the struct it decodes into,
// records each key's line, and expands ${VAR} in scalar values.
func walkConfig(n *yaml.Node, t reflect.Type, path string, lines map[string]int, bad func(key string, line int, msg string), getenv func(string) string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		bad(path, n.Line, "YAML aliases are not supported")
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return
		}
		if strings.Contains(n.Value, "${") {
			expandScalar(n, path, bad, getenv)
		}
		if msg := checkScalar(n.Value, t); msg != "" {
			bad(path, n.Line, msg)
		} else if err := n.Decode(reflect.New(t).Interface()); err != nil {
			// An explicit tag (!!float, !!binary) that does not fit the
			// value, or a value of the wrong kind.
			bad(path, n.Line, decodeMessage(err))
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			child := joinKey(path, key)
			lines[child] = k.Line
			switch t.Kind() {
			case reflect.Map:
				walkConfig(v, t.Elem(), child, lines, bad, getenv)
			case reflect.Struct:
				f, ok := fieldByYAMLName(t, key)
				if !ok {
					bad(child, k.Line, "unknown key")
					continue
				}
				walkConfig(v, f.Type, child, lines, bad, getenv)
			default:
				bad(path, n.Line, "expected a single value, found a mapping")
				return
			}
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			bad(path, n.Line, "expected a single value or mapping, found a list")
			return
		}
		for i, c := range n.Content {
			walkConfig(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines, bad, getenv)
		}
	}
}

func expandScalar(n *yaml.Node, path string, bad func(key string, line int, msg string), getenv func(string) string) {
	n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
		name := ref[2 : len(ref)-1]
		v := getenv(name)
		if v == "" {
			bad(path, n.Line, fmt.Sprintf("environment variable %s is not set", name))
		}
		return v
	})
	// A value like app_id: ${GITHUB_APP_ID} must decode as a number, so the
	// string tag the parser chose for the unexpanded text is dropped.
	n.Tag, n.Style = "", 0
}

// withLine adds the line yaml.v3 leaves out of some syntax errors (one on
// the first line, a character it cannot read, an unknown anchor): the
// line up to which the file fails the same way, and not one line earlier.
func withLine(data []byte, err error) error {
	msg, ok := strings.CutPrefix(err.Error(), "yaml: ")
	if !ok || strings.HasPrefix(msg, "line ") {
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
	n := sort.Search(len(ends), func(i int) bool {
		var doc yaml.Node
		e := yaml.Unmarshal(data[:ends[i]], &doc)
		return e != nil && e.Error() == err.Error()
	})
	if n == len(ends) {
		return err
	}
	return fmt.Errorf("yaml: line %d: %s", n+1, msg)
}

// decodeMessage is yaml.v3's decoding error without the line, which the
// caller reports with the key.
func decodeMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = lineNumber.ReplaceAllString(m, "")
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

var lineNumber = regexp.MustCompile(`^line \d+: `)

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// checkScalar tries the value against the type it will decode into, so
// that a bad number or duration is reported with its key, which yaml.v3's
// own errors leave out.
func checkScalar(v string, t reflect.Type) string {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(v)); err != nil {
			return err.Error()
		}
		return ""
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Sprintf("want a whole number, got %q", v)
		}
	case reflect.Bool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Sprintf("want true or false, got %q", v)
		}
	case reflect.Map, reflect.Struct:
		return "expected a mapping, found a single value"
	case reflect.Slice:
		return "expected a list, found a single value"
	}
	return ""
}

func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf finds the line of key, or of its nearest parent written in the
// file (a missing field is reported at the mapping that lacks it).
func lineOf(lines map[string]int, key string) int {
	for key != "" {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}
