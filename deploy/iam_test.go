package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// awsServices are the SDK clients deployer/ may call, with their IAM
// service prefixes. A deployer importing any other service package fails
// the test until it is added here and its actions to a policy.
var awsServices = []struct {
	importPath string
	prefix     string
	client     reflect.Type
}{
	{"github.com/aws/aws-sdk-go-v2/service/ecr", "ecr", reflect.TypeOf(&ecr.Client{})},
	{"github.com/aws/aws-sdk-go-v2/service/ecs", "ecs", reflect.TypeOf(&ecs.Client{})},
	{"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk", "elasticbeanstalk", reflect.TypeOf(&elasticbeanstalk.Client{})},
	{"github.com/aws/aws-sdk-go-v2/service/s3", "s3", reflect.TypeOf(&s3.Client{})},
	{"github.com/aws/aws-sdk-go-v2/service/sts", "sts", reflect.TypeOf(&sts.Client{})},
}

// s3Actions maps S3 operations to their IAM actions, which S3 does not
// name after the operation. An S3 operation missing here fails the test.
var s3Actions = map[string][]string{
	"GetObject":  {"s3:GetObject"},
	"HeadObject": {"s3:GetObject"},
	"PutObject":  {"s3:PutObject"},
	"HeadBucket": {"s3:ListBucket"},
}

// indirectCalls are functions that make the SDK call an operation later,
// on deploybot's behalf: credential providers.
var indirectCalls = map[string]map[string][]string{
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds": {
		"NewAssumeRoleProvider":      {"sts:AssumeRole"},
		"NewWebIdentityRoleProvider": {"sts:AssumeRoleWithWebIdentity"},
	},
}

// impliedActions are what an operation needs besides its own action, the
// way deploybot calls it.
var impliedActions = map[string][]string{
	// Each revision carries the deploybot-deployment tag (and the copied
	// tags): tagging on create needs ecs:TagResource. The task and
	// execution roles the revision names are passed: iam:PassRole.
	"ecs:RegisterTaskDefinition": {"ecs:TagResource", "iam:PassRole"},
}

// iamPolicyOf names the policy document in iam/ that grants what each
// package of deployer/ calls.
var iamPolicyOf = map[string]string{
	"awsenv":           "assume-role.json",
	"ecr":              "ecr.json",
	"ecs":              "ecs.json",
	"elasticbeanstalk": "elasticbeanstalk.json",
}

// onBehalfPolicy is the separate document of what Elastic Beanstalk does
// with the caller's permissions during UpdateEnvironment: not called by
// deploybot, so not derived from the code (see iam/README.md).
const onBehalfPolicy = "elasticbeanstalk-on-behalf.json"

// sdkActions are actions the SDK's default credential chain calls for
// deploybot's own identity, not any deployer: IRSA's web identity.
var sdkActions = map[string]bool{"sts:AssumeRoleWithWebIdentity": true}

// clientOperations returns the API operations of an SDK client type:
// methods func(context.Context, *<Op>Input, ...func(*Options)) (*<Op>Output, error).
func clientOperations(client reflect.Type) map[string]bool {
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	errType := reflect.TypeOf((*error)(nil)).Elem()
	ops := map[string]bool{}
	for i := 0; i < client.NumMethod(); i++ {
		m := client.Method(i)
		ft := m.Type // the receiver is In(0)
		if ft.NumIn() != 4 || !ft.IsVariadic() || ft.In(1) != ctxType || ft.NumOut() != 2 || ft.Out(1) != errType {
			continue
		}
		in, out := ft.In(2), ft.Out(0)
		if in.Kind() != reflect.Pointer || in.Elem().Name() != m.Name+"Input" ||
			out.Kind() != reflect.Pointer || out.Elem().Name() != m.Name+"Output" {
			continue
		}
		ops[m.Name] = true
	}
	return ops
}

// derivedActions is the result of scanning source for AWS calls: per
// package directory (relative to the scanned root), each IAM action with
// the places that need it.
type derivedActions map[string]map[string][]string

func (d derivedActions) add(pkg, action, where string) {
	if d[pkg] == nil {
		d[pkg] = map[string][]string{}
	}
	d[pkg][action] = append(d[pkg][action], where)
}

// deriveActions scans the non-test Go files under root for the AWS
// operations they call — method calls x.Op(ctx, in) where Op is an
// operation of a client whose package the calling package imports
// (the input literal &svc.OpInput{…} settles which, when several could),
// paginators svc.NewOpPaginator, and indirect calls such as stscreds'
// AssumeRole — and maps each to its IAM actions. Anything it cannot map
// is returned as an error rather than skipped.
func deriveActions(root string) (derivedActions, []error) {
	services := map[string]int{} // import path → index in awsServices
	ops := make([]map[string]bool, len(awsServices))
	for i, s := range awsServices {
		services[s.importPath] = i
		ops[i] = clientOperations(s.client)
	}
	out := derivedActions{}
	var errs []error
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		pkgs[filepath.ToSlash(rel)] = append(pkgs[filepath.ToSlash(rel)], f)
		return nil
	})
	if err != nil {
		return nil, []error{err}
	}
	for pkg, files := range pkgs {
		// The services any file of the package imports: a client may be
		// held in a field declared in another file.
		var imported []int
		for _, f := range files {
			for _, spec := range f.Imports {
				ip, _ := strconv.Unquote(spec.Path.Value)
				if i, ok := services[ip]; ok {
					if !slices.Contains(imported, i) {
						imported = append(imported, i)
					}
				} else if knownSubpackage(ip) {
					// service/ecs/types and the like: no operations.
				} else if strings.HasPrefix(ip, "github.com/aws/aws-sdk-go-v2/service/") || strings.HasPrefix(ip, "github.com/aws/aws-sdk-go-v2/feature/") {
					errs = append(errs, fmt.Errorf("%s imports %s, which this test does not know: add its client to awsServices (or what it calls to indirectCalls) and its actions to a policy in iam/", fset.Position(spec.Pos()), ip))
				}
			}
		}
		for _, f := range files {
			names := map[string]string{} // local package name → import path
			for _, spec := range f.Imports {
				ip, _ := strconv.Unquote(spec.Path.Value)
				name := path.Base(ip)
				if spec.Name != nil {
					name = spec.Name.Name
				}
				names[name] = ip
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				name, where := sel.Sel.Name, fset.Position(call.Pos()).String()
				if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] != "" {
					// A package-level function.
					ip := names[id.Name]
					if fns, ok := indirectCalls[ip]; ok {
						if acts, ok := fns[name]; ok {
							for _, a := range acts {
								out.add(pkg, a, where)
							}
						} else if strings.HasPrefix(name, "New") {
							errs = append(errs, fmt.Errorf("%s: %s.%s may call AWS on deploybot's behalf: add it to indirectCalls", where, id.Name, name))
						}
					}
					if i, ok := services[ip]; ok && strings.HasPrefix(name, "New") {
						switch rest := strings.TrimPrefix(name, "New"); {
						case strings.HasSuffix(rest, "Paginator") && ops[i][strings.TrimSuffix(rest, "Paginator")]:
							errs = append(errs, addOperation(out, pkg, awsServices[i].prefix, strings.TrimSuffix(rest, "Paginator"), where)...)
						case strings.HasSuffix(rest, "Waiter"):
							errs = append(errs, fmt.Errorf("%s: %s.%s polls operations this test does not map: map them here", where, id.Name, name))
						}
					}
					return true
				}
				if len(call.Args) < 2 {
					return true
				}
				// A method call: which imported client has this operation?
				var candidates []int
				for _, i := range imported {
					if ops[i][name] {
						candidates = append(candidates, i)
					}
				}
				if len(candidates) == 0 {
					return true
				}
				if i, ok := inputPackage(call.Args[1], names, services); ok && ops[i][name] {
					candidates = []int{i}
				}
				if len(candidates) > 1 {
					var which []string
					for _, i := range candidates {
						which = append(which, awsServices[i].prefix)
					}
					errs = append(errs, fmt.Errorf("%s: .%s is an operation of %s; pass a literal &<service>.%sInput{…} so the test can tell which", where, name, strings.Join(which, " and "), name))
					return true
				}
				errs = append(errs, addOperation(out, pkg, awsServices[candidates[0]].prefix, name, where)...)
				return true
			})
		}
	}
	return out, errs
}

// knownSubpackage reports whether ip is inside a known service's
// package (its types), which holds no client.
func knownSubpackage(ip string) bool {
	for _, s := range awsServices {
		if strings.HasPrefix(ip, s.importPath+"/") {
			return true
		}
	}
	return false
}

// inputPackage returns the service of an argument &svc.XxxInput{…}.
func inputPackage(arg ast.Expr, names map[string]string, services map[string]int) (int, bool) {
	if u, ok := arg.(*ast.UnaryExpr); ok && u.Op == token.AND {
		arg = u.X
	}
	lit, ok := arg.(*ast.CompositeLit)
	if !ok {
		return 0, false
	}
	sel, ok := lit.Type.(*ast.SelectorExpr)
	if !ok {
		return 0, false
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return 0, false
	}
	i, ok := services[names[id.Name]]
	return i, ok
}

func addOperation(out derivedActions, pkg, prefix, op, where string) []error {
	actions := []string{prefix + ":" + op}
	if prefix == "s3" {
		var ok bool
		if actions, ok = s3Actions[op]; !ok {
			return []error{fmt.Errorf("%s: S3 %s has no IAM action mapping in s3Actions: add it", where, op)}
		}
	}
	for _, a := range actions {
		out.add(pkg, a, where)
		for _, extra := range impliedActions[a] {
			out.add(pkg, extra, where+" (implied by "+a+")")
		}
	}
	return nil
}

// policy is an IAM policy document.
type policy struct {
	Version   string `json:"Version"`
	Statement []struct {
		Sid       string          `json:"Sid"`
		Effect    string          `json:"Effect"`
		Principal json.RawMessage `json:"Principal"`
		Action    stringList      `json:"Action"`
		Resource  stringList      `json:"Resource"`
		Condition json.RawMessage `json:"Condition"`
	} `json:"Statement"`
}

func (p *policy) actions() map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Statement {
		for _, a := range s.Action {
			out[a] = true
		}
	}
	return out
}

// stringList is a JSON string or array of strings, as IAM allows.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

func loadPolicies(t *testing.T) map[string]*policy {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("iam", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*policy{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var p policy
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		out[filepath.Base(file)] = &p
	}
	return out
}

func TestIAMPoliciesMatchTheCode(t *testing.T) {
	derived, errs := deriveActions(filepath.Join(repoRoot, "deployer"))
	for _, err := range errs {
		t.Error(err)
	}
	policies := loadPolicies(t)

	all := map[string]bool{}
	for pkg, actions := range derived {
		file, ok := iamPolicyOf[pkg]
		if !ok {
			t.Errorf("deployer/%s calls AWS (%v) but iamPolicyOf names no policy for it", pkg, sortedKeys(actions))
			continue
		}
		for a := range actions {
			all[a] = true
		}
		t.Logf("deployer/%s → iam/%s: %s", pkg, file, strings.Join(sortedKeys(actions), ", "))
	}
	t.Logf("every action deploybot's code needs: %s", strings.Join(sortedKeys(all), ", "))
	if len(all) == 0 {
		t.Fatal("found no AWS calls in deployer/: the scan is broken")
	}

	for pkg, file := range iamPolicyOf {
		p, ok := policies[file]
		if !ok {
			t.Errorf("iam/%s (for deployer/%s) is missing", file, pkg)
			continue
		}
		granted := p.actions()
		for a, where := range derived[pkg] {
			if !granted[a] {
				t.Errorf("iam/%s lacks %s, which deployer/%s needs at %s", file, a, pkg, strings.Join(where, ", "))
			}
		}
		for a := range granted {
			if _, ok := derived[pkg][a]; !ok {
				t.Errorf("iam/%s grants %s, which deployer/%s does not call", file, a, pkg)
			}
		}
	}

	readme, err := os.ReadFile(filepath.Join("iam", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	mapped := map[string]bool{}
	for _, f := range iamPolicyOf {
		mapped[f] = true
	}
	for file, p := range policies {
		if !bytes.Contains(readme, []byte(file)) {
			t.Errorf("iam/README.md does not explain %s", file)
		}
		if p.Version != "2012-10-17" {
			t.Errorf("iam/%s: Version %q, want 2012-10-17", file, p.Version)
		}
		sids := map[string]bool{}
		principals := 0
		for _, s := range p.Statement {
			if s.Effect != "Allow" || len(s.Action) == 0 {
				t.Errorf("iam/%s statement %q: want Effect Allow with actions", file, s.Sid)
			}
			if s.Sid == "" || sids[s.Sid] {
				t.Errorf("iam/%s: every statement needs its own Sid (%q)", file, s.Sid)
			}
			sids[s.Sid] = true
			if len(s.Principal) > 0 {
				principals++
			} else if len(s.Resource) == 0 {
				t.Errorf("iam/%s statement %s has no Resource", file, s.Sid)
			}
		}
		switch {
		case mapped[file]:
			if principals > 0 {
				t.Errorf("iam/%s is an identity policy; it names a Principal", file)
			}
		case file == onBehalfPolicy:
			// Not called by deploybot: kept apart, every statement marked.
			for _, s := range p.Statement {
				if !strings.HasPrefix(s.Sid, "OnBehalf") {
					t.Errorf("iam/%s statement %q: Sids start with OnBehalf, to tell them from what deploybot calls", file, s.Sid)
				}
				for _, a := range s.Action {
					if strings.HasPrefix(a, "elasticbeanstalk:") {
						t.Errorf("iam/%s grants %s: deploybot's own Elastic Beanstalk calls belong in elasticbeanstalk.json", file, a)
					}
				}
			}
		case principals == len(p.Statement):
			// Trust and resource policies: only actions deploybot's
			// identity calls.
			for a := range p.actions() {
				if !all[a] && !sdkActions[a] {
					t.Errorf("iam/%s allows %s, which deploybot does not call", file, a)
				}
			}
		default:
			t.Errorf("iam/%s: neither a policy for a deployer package (iamPolicyOf), nor %s, nor a trust/resource policy", file, onBehalfPolicy)
		}
	}
}

// TestDeriveActionsSeesNewOperations shows the IAM test fails when a
// deployer starts calling something new.
func TestDeriveActionsSeesNewOperations(t *testing.T) {
	root := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ecs/ecs.go", `package ecs
import (
	"context"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)
type d struct{ client *ecs.Client }
`)
	write("ecs/more.go", `package ecs
import "context"
func (x *d) f(ctx context.Context, in any) {
	x.client.DeleteService(ctx, in)       // the client's package is imported by another file
	x.client.UpdateService(ctx, nil)
	x.notAnOperation(ctx, in)
}
`)
	write("ecs/ecs_test.go", `package ecs
func g(ctx context.Context, c *ecs.Client) { c.DeleteCluster(ctx, nil) }
`)
	write("eb/eb.go", `package eb
import (
	"context"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)
func f(ctx context.Context, c *s3.Client, eb *elasticbeanstalk.Client) {
	c.HeadBucket(ctx, &s3.HeadBucketInput{})
	c.DeleteObject(ctx, &s3.DeleteObjectInput{})
	p := elasticbeanstalk.NewDescribeEventsPaginator(eb, nil)
	_ = p
}
`)
	derived, errs := deriveActions(root)
	want := derivedActions{
		"ecs": {"ecs:DeleteService": nil, "ecs:UpdateService": nil},
		"eb":  {"s3:ListBucket": nil, "elasticbeanstalk:DescribeEvents": nil},
	}
	for pkg, actions := range want {
		if got := sortedKeys(derived[pkg]); !slices.Equal(got, sortedKeys(actions)) {
			t.Errorf("%s: derived %v, want %v", pkg, got, sortedKeys(actions))
		}
	}
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"S3 DeleteObject has no IAM action mapping", "service/lambda, which this test does not know"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors do not report %q:\n%s", want, joined)
		}
	}
	if len(errs) != 2 {
		t.Errorf("want 2 errors, got:\n%s", joined)
	}

	// And a real client's operations are found by reflection.
	for _, s := range awsServices {
		if n := len(clientOperations(s.client)); n < 5 {
			t.Errorf("%s client: found %d operations", s.prefix, n)
		}
	}
	if !clientOperations(reflect.TypeOf(&ecs.Client{}))["UpdateService"] {
		t.Error("ecs.Client has no UpdateService operation?")
	}
}
