package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// EnvVarNames returns the names of vars, sorted: what may be shown of them.
func EnvVarNames(vars map[string]string) []string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// validateEnvVars checks names only; a message quoting a value would print
// a secret.
func validateEnvVars(key string, vars map[string]string) []*ConfigError {
	var errs []*ConfigError
	for _, name := range EnvVarNames(vars) {
		if !validEnvVarName(name) {
			errs = append(errs, &ConfigError{Key: key + "." + name, Message: fmt.Sprintf("%q is not an environment variable name (letters, digits and _, not starting with a digit)", name)})
		}
	}
	return errs
}

func validEnvVarName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Elastic Beanstalk's documented limits on environment properties
// ("Configuring environment properties"): a value holds at most 256
// characters, and all of them together, written KEY=value, at most 4,096
// bytes. EB answers a longer value with an error quoting it, so they are
// checked before anything is written.
const (
	EBEnvValueMaxChars = 256
	EBEnvTotalMaxBytes = 4096
)

// CheckEBEnvVars returns an EINVALID error naming the first variable
// that breaks EB's limits, or the total; never a value.
func CheckEBEnvVars(vars map[string]string) error {
	total := 0
	for _, name := range EnvVarNames(vars) {
		if n := utf8.RuneCountInString(vars[name]); n > EBEnvValueMaxChars {
			return Errorf(EINVALID, "env var %s: its value is %d characters, over Elastic Beanstalk's limit of %d for an environment property value", name, n, EBEnvValueMaxChars)
		}
		total += len(name) + 1 + len(vars[name])
	}
	if total > EBEnvTotalMaxBytes {
		names := EnvVarNames(vars)
		sort.SliceStable(names, func(i, j int) bool { return len(vars[names[i]]) > len(vars[names[j]]) })
		return Errorf(EINVALID, "env vars take %d bytes written as KEY=value, over Elastic Beanstalk's limit of %d for all environment properties together (the longest: %s)", total, EBEnvTotalMaxBytes, strings.Join(names[:min(3, len(names))], ", "))
	}
	return nil
}

// minHiddenLen is the shortest value hidden in what deployers say: a
// value of one to three characters (a port, "on") is no secret, and
// replacing every "80" would garble the text around it.
const minHiddenLen = 4

// envValueHider returns a func that replaces in s every value of vars,
// as written and as AWS may echo it (JSON-quoted, URL-encoded), with
// the variable's name: the text of an AWS error or event may quote an
// option value, and values are never shown.
func envValueHider(vars map[string]string) func(string) string {
	type pair struct{ old, name string }
	var pairs []pair
	for _, name := range EnvVarNames(vars) {
		v := vars[name]
		if len(v) < minHiddenLen {
			continue
		}
		q, _ := json.Marshal(v)
		for _, form := range []string{v, string(q[1 : len(q)-1]), url.QueryEscape(v), url.PathEscape(v)} {
			pairs = append(pairs, pair{form, name})
		}
	}
	if len(pairs) == 0 {
		return func(s string) string { return s }
	}
	// The longest first: a value inside another must not leave the
	// rest of the longer one standing.
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i].old) > len(pairs[j].old) })
	var args []string
	for _, p := range pairs {
		args = append(args, p.old, "[value of "+p.name+"]")
	}
	r := strings.NewReplacer(args...)
	return r.Replace
}

// hideEnvValues is err with hide applied to its text; err itself when
// no value was in it. The chain is given up only then: the text is what
// is logged and shown.
func hideEnvValues(err error, hide func(string) string) error {
	if err == nil || hide(err.Error()) == err.Error() {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		return &hiddenError{text: hide(err.Error()), e: &Error{Code: e.Code, Message: hide(e.Message)}}
	}
	return errors.New(hide(err.Error()))
}

// hiddenError keeps the code and safe message of a deployer's error
// whose text quoted an env var value.
type hiddenError struct {
	text string
	e    *Error
}

func (h *hiddenError) Error() string { return h.text }
func (h *hiddenError) Unwrap() error { return h.e }
