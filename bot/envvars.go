package bot

import (
	"fmt"
	"sort"
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
