package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// checkBotURL checks that u is an https URL on the configs' public_url
// host whose path is wantPath, a route the bot serves for method.
func checkBotURL(t *testing.T, what, u, method, wantPath string) {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.Host == "" {
		t.Errorf("%s = %q, want an https URL", what, u)
		return
	}
	if p.Path != wantPath {
		t.Errorf("%s path = %q, want %q", what, p.Path, wantPath)
	}
	if !handlerRoutes(t)[method+" "+p.Path] {
		t.Errorf("%s: the bot serves no %s %s", what, method, p.Path)
	}
	if host := publicHost(t); p.Host != host {
		t.Errorf("%s host %q differs from public_url's %q in compose/deploybot.yaml", what, p.Host, host)
	}
}

func publicHost(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("compose/deploybot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		PublicURL string `yaml:"public_url"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// handlerRoutes returns the routes handlers/ registers ("POST
// /webhooks/github"), read from the mux.Handle/HandleFunc calls.
func handlerRoutes(t *testing.T) map[string]bool {
	t.Helper()
	routes := map[string]bool{}
	for _, f := range parseDir(t, filepath.Join(repoRoot, "handlers")) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					routes[s] = true
				}
			}
			return true
		})
	}
	if !routes["GET /healthz"] {
		t.Fatalf("found no GET /healthz among the routes of handlers/ (%v): has the registration changed shape?", sortedKeys(routes))
	}
	return routes
}

// handlerCaseStrings returns the string constants of the case clauses in
// handlers/: the webhook events it dispatches on.
func handlerCaseStrings(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range parseDir(t, filepath.Join(repoRoot, "handlers")) {
		ast.Inspect(f, func(n ast.Node) bool {
			if cc, ok := n.(*ast.CaseClause); ok {
				for _, e := range cc.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						out[s] = true
					}
				}
			}
			return true
		})
	}
	return out
}

// parseDir parses the non-test Go files of one directory.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}
