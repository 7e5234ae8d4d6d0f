// Package config reads deploybot's YAML file into a bot.Config: it expands
// ${VAR} from the environment, refuses unknown keys and values of the
// wrong kind, holds the result to the domain's rules and to what serve
// needs to start, and reports every problem at once with its key and line.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"

	"github.com/deploybot/deploybot/bot"
	"gopkg.in/yaml.v3"
)

// Load reads the YAML file at path, expands ${VAR} from getenv in scalar
// values, and validates it: everything serve refuses at start-up. Every
// problem found is returned at once, each naming its key and line.
func Load(path string, getenv func(string) string) (*bot.Config, error) {
	r, err := CheckFile(path, getenv)
	if err != nil {
		return nil, err
	}
	return r.Config, nil
}

// Parse is Load for a file already read.
func Parse(data []byte, getenv func(string) string) (*bot.Config, error) {
	r, err := Check(data, getenv)
	if err != nil {
		return nil, err
	}
	return r.Config, nil
}

// Result is a config that loads, with what it allows that is likely a
// mistake.
type Result struct {
	Config   *bot.Config
	Warnings []*bot.ConfigError // sorted by line
}

// CheckFile is Check for the file at path; its error names the file.
func CheckFile(path string, getenv func(string) string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	r, err := Check(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	return r, nil
}

// Check parses and validates data in one pass: YAML syntax, unknown keys,
// unset variables, values of the wrong kind, the domain's rules
// (bot.Config.Validate) and what serve checks as it starts (the GitHub
// App key, the store's DSN, URLs, the AWS region). A refusal is an
// errors.Join of *bot.ConfigError, one per cause, sorted by line, or a
// single YAML syntax error.
func Check(data []byte, getenv func(string) string) (*Result, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, withLine(data, err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	root := doc.Content[0]
	w := &walker{lines: map[string]int{}, getenv: getenv, unset: map[string]*bot.ConfigError{}}
	// Expanding after parsing, inside scalars only, keeps a multi-line PEM
	// key or a secret containing YAML syntax from changing the document.
	// What is wrong is cut out of the tree, so that the rest still decodes
	// and is checked in the same pass.
	if !w.walk(root, reflect.TypeOf(bot.Config{}), "") {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	var cfg bot.Config
	if err := root.Decode(&cfg); err != nil {
		// walk removes every value that does not decode; this would be a
		// gap in it, reported as yaml.v3 words it.
		w.errs = append(w.errs, &bot.ConfigError{Key: "(file)", Message: decodeMessage(err)})
		w.cut = append(w.cut, "")
	}
	invalid := map[string]bool{}
	for _, e := range cfg.Validate() {
		if !w.explained(e.Key) {
			e.Line = lineOf(w.lines, e.Key)
			w.errs = append(w.errs, e)
		}
		invalid[e.Key] = true
	}
	for _, e := range startupErrors(&cfg) {
		if !w.explained(e.Key) && !invalid[e.Key] {
			e.Line = lineOf(w.lines, e.Key)
			w.errs = append(w.errs, e)
		}
	}
	if len(w.errs) > 0 {
		sortByLine(w.errs)
		errs := make([]error, len(w.errs))
		for i, e := range w.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	warns := warnings(&cfg)
	for _, e := range warns {
		e.Line = lineOf(w.lines, e.Key)
	}
	sortByLine(warns)
	return &Result{Config: &cfg, Warnings: warns}, nil
}

// sortByLine puts problems in the order of the file; those the file has
// no line for (a required key it lacks entirely) come last.
func sortByLine(errs []*bot.ConfigError) {
	sort.SliceStable(errs, func(i, j int) bool {
		li, lj := errs[i].Line, errs[j].Line
		if (li == 0) != (lj == 0) {
			return lj == 0
		}
		if li != lj {
			return li < lj
		}
		return errs[i].Key < errs[j].Key
	})
}
