package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/deploybot/deploybot/bot"
	"gopkg.in/yaml.v3"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// walker checks every mapping key against the struct it decodes into,
// records each key's line, and expands ${VAR} in scalar values.
type walker struct {
	lines  map[string]int
	getenv func(string) string
	errs   []*bot.ConfigError
	// unset holds the one error of each unset variable, however often it
	// is used.
	unset map[string]*bot.ConfigError
	// cut are the keys already reported (their values were removed): what
	// is found later at them, inside them or around them has the same
	// cause.
	cut []string
	// meant are the keys unknown keys were probably meant to be: that
	// they are missing has the same cause.
	meant []string
}

func (w *walker) bad(key string, line int, msg string) {
	w.errs = append(w.errs, &bot.ConfigError{Key: key, Line: line, Message: msg})
	w.cut = append(w.cut, key)
}

// explained reports whether a problem found later at key follows from one
// already reported.
func (w *walker) explained(key string) bool {
	if slices.Contains(w.meant, key) {
		return true
	}
	for _, c := range w.cut {
		if c == "" || key == c || within(key, c) || within(c, key) {
			return true
		}
	}
	return false
}

// within reports whether key lies inside parent (apps.web.tag in apps.web).
func within(key, parent string) bool {
	rest, ok := strings.CutPrefix(key, parent)
	return ok && parent != "" && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "["))
}

// walk reports whether n may be decoded into t. What may not is reported,
// and removed from the mappings and lists that hold it.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.AliasNode:
		w.bad(path, n.Line, "YAML aliases are not supported")
		return false
	case yaml.ScalarNode:
		return w.scalar(n, t, path)
	case yaml.MappingNode:
		if t.Kind() != reflect.Map && t.Kind() != reflect.Struct {
			w.bad(path, n.Line, "expected a single value, found a mapping")
			return false
		}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := joinKey(path, k.Value)
			w.lines[child] = k.Line
			var ok bool
			if t.Kind() == reflect.Map {
				ok = w.walk(v, t.Elem(), child)
			} else if f, found := fieldByYAMLName(t, k.Value); found {
				ok = w.walk(v, f.Type, child)
			} else {
				w.unknown(t, path, k)
			}
			if ok {
				kept = append(kept, k, v)
			}
		}
		n.Content = kept
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			w.bad(path, n.Line, "expected a single value or mapping, found a list")
			return false
		}
		kept := n.Content[:0:0]
		for i, c := range n.Content {
			if w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)) {
				kept = append(kept, c)
			}
		}
		n.Content = kept
	}
	return true
}

func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Tag == "!!null" {
		return true
	}
	written := n.Value
	if strings.Contains(n.Value, "${") && !w.expand(n, path) {
		return false // the unset variable is the one cause
	}
	msg := checkScalar(n.Value, t)
	if msg == "" {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			// An explicit tag (!!float, !!binary) that does not fit the
			// value, or a value of the wrong kind.
			msg = decodeMessage(err)
		}
	}
	if msg == "" {
		return true
	}
	if written != n.Value && n.Value != "" {
		// The value came from the environment, where secrets live: the
		// message shows the reference instead.
		msg = strings.ReplaceAll(msg, strconv.Quote(n.Value), strconv.Quote(written))
		msg = strings.ReplaceAll(msg, n.Value, written)
	}
	w.bad(path, n.Line, msg)
	return false
}

// unknown reports key k, which struct t has no field for, naming the key
// it is probably a typo of.
func (w *walker) unknown(t reflect.Type, path string, k *yaml.Node) {
	msg := "unknown key"
	if near := nearestField(t, k.Value); near != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", near)
		w.meant = append(w.meant, joinKey(path, near))
	}
	w.bad(joinKey(path, k.Value), k.Line, msg)
}

// expand replaces each ${NAME} in n with its value, and reports whether
// every variable was set.
func (w *walker) expand(n *yaml.Node, path string) bool {
	ok := true
	n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
		name := ref[2 : len(ref)-1]
		v := w.getenv(name)
		if v != "" {
			return v
		}
		ok = false
		if e := w.unset[name]; e != nil {
			e.Message = addUse(e.Message, n.Line)
			w.cut = append(w.cut, path)
		} else {
			w.bad(path, n.Line, fmt.Sprintf("environment variable %s is not set", name))
			w.unset[name] = w.errs[len(w.errs)-1]
		}
		return ""
	})
	// A value like app_id: ${GITHUB_APP_ID} must decode as a number, so the
	// string tag the parser chose for the unexpanded text is dropped.
	n.Tag, n.Style = "", 0
	return ok
}

// addUse notes another line that uses an unset variable.
func addUse(msg string, line int) string {
	if before, lines, ok := strings.Cut(msg, " (also used on line "); ok {
		return fmt.Sprintf("%s (also used on lines %s, %d)", before, strings.TrimSuffix(strings.TrimPrefix(lines, "s "), ")"), line)
	}
	return fmt.Sprintf("%s (also used on line %d)", msg, line)
}

// nearestField is the key of struct t that name is most likely a typo
// of, or "".
func nearestField(t reflect.Type, name string) string {
	best, bestDist := "", 3 // three edits make another word
	for _, f := range yamlFields(t) {
		if d := editDistance(strings.ToLower(name), f.name); d < bestDist && d < len(f.name) {
			best, bestDist = f.name, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of adjacent letters that turn a into b.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
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

// fieldByYAMLName finds the field of struct t that key name decodes into,
// by yaml.v3's rules: the tag's name, else the field's name in lower
// case; "-" and unexported fields never; ",inline" structs' fields as
// their own.
func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for _, f := range yamlFields(t) {
		if f.name == name {
			return f.StructField, true
		}
	}
	return reflect.StructField{}, false
}

type yamlField struct {
	reflect.StructField
	name string
}

func yamlFields(t reflect.Type) []yamlField {
	var fields []yamlField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-":
		case strings.Contains(","+opts+",", ",inline,") && ft.Kind() == reflect.Struct:
			fields = append(fields, yamlFields(ft)...)
		case name == "":
			fields = append(fields, yamlField{f, strings.ToLower(f.Name)})
		default:
			fields = append(fields, yamlField{f, name})
		}
	}
	return fields
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
