// Package deploy holds how deploybot itself is run: Kubernetes manifests,
// a compose file with PostgreSQL, IAM policies, and the GitHub App and
// Slack app manifests. Its tests parse every file and hold it to the code:
// the IAM policies grant exactly the AWS operations deployer/ calls, the
// manifests name the routes handlers/ serves, the configs load.
package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"gopkg.in/yaml.v3"

	"github.com/deploybot/deploybot/bot"
)

// configPath is where both the Kubernetes and the compose setups mount
// the config, and what the Dockerfile's CMD passes to serve.
const configPath = "/etc/deploybot/deploybot.yaml"

// repoRoot is the module root, seen from this package's directory (where
// go test runs).
const repoRoot = ".."

// ---------------------------------------------------------------------
// Kubernetes

type k8sMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// k8sObject is one document of a manifest file.
type k8sObject struct {
	File       string
	Template   bool // in a subdirectory: not applied by kubectl apply -f kubernetes/
	APIVersion string
	Kind       string
	Meta       k8sMeta
	Node       *yaml.Node
}

func (o *k8sObject) decode(t *testing.T, v any) {
	t.Helper()
	if err := o.Node.Decode(v); err != nil {
		t.Fatalf("%s: %s %s: %v", o.File, o.Kind, o.Meta.Name, err)
	}
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name     string `yaml:"name"`
			Key      string `yaml:"key"`
			Optional bool   `yaml:"optional"`
		} `yaml:"secretKeyRef"`
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
}

type container struct {
	Name    string          `yaml:"name"`
	Image   string          `yaml:"image"`
	Command []string        `yaml:"command"`
	Args    []string        `yaml:"args"`
	Ports   []containerPort `yaml:"ports"`
	Env     []envVar        `yaml:"env"`
	EnvFrom []struct {
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string `yaml:"name"`
		Items []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"configMap"`
}

type deployment struct {
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				ServiceAccountName string           `yaml:"serviceAccountName"`
				SecurityContext    *securityContext `yaml:"securityContext"`
				Containers         []container      `yaml:"containers"`
				Volumes            []volume         `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func loadKubernetes(t *testing.T) []*k8sObject {
	t.Helper()
	var objs []*k8sObject
	root := "kubernetes"
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml")) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: document %d: %w", p, i, err)
			}
			var head struct {
				APIVersion string  `yaml:"apiVersion"`
				Kind       string  `yaml:"kind"`
				Metadata   k8sMeta `yaml:"metadata"`
			}
			if err := n.Decode(&head); err != nil {
				return fmt.Errorf("%s: document %d: %w", p, i, err)
			}
			if head.Kind == "" && head.APIVersion == "" {
				continue // an empty document (a trailing ---)
			}
			objs = append(objs, &k8sObject{
				File: p, Template: filepath.Dir(p) != root,
				APIVersion: head.APIVersion, Kind: head.Kind, Meta: head.Metadata, Node: &n,
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("no Kubernetes objects under kubernetes/")
	}
	return objs
}

func TestKubernetesManifests(t *testing.T) {
	objs := loadKubernetes(t)
	byKind := map[string][]*k8sObject{}
	for _, o := range objs {
		if o.APIVersion == "" || o.Kind == "" || o.Meta.Name == "" {
			t.Errorf("%s: %s %q lacks apiVersion, kind or metadata.name", o.File, o.Kind, o.Meta.Name)
		}
		if o.Meta.Namespace != "" {
			t.Errorf("%s: %s %s sets namespace %q; leave it to kubectl -n", o.File, o.Kind, o.Meta.Name, o.Meta.Namespace)
		}
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	find := func(kind, name string) *k8sObject {
		for _, o := range byKind[kind] {
			if o.Meta.Name == name {
				return o
			}
		}
		return nil
	}

	if n := len(byKind["Deployment"]); n != 1 {
		t.Fatalf("want one Deployment, found %d", n)
	}
	depObj := byKind["Deployment"][0]
	if depObj.Template {
		t.Errorf("%s: the Deployment must be applied with the directory, not sit in a subdirectory", depObj.File)
	}
	var dep deployment
	depObj.decode(t, &dep)
	if r := dep.Spec.Replicas; r == nil || *r != 2 {
		t.Errorf("Deployment replicas = %v, want 2", r)
	}
	podLabels := dep.Spec.Template.Metadata.Labels
	if len(dep.Spec.Selector.MatchLabels) == 0 || !labelsMatch(dep.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("Deployment selector %v does not select its pod labels %v", dep.Spec.Selector.MatchLabels, podLabels)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, found %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image == "" {
		t.Error("container has no image")
	}
	if len(c.Command) != 0 {
		t.Errorf("container command %q overrides the image's ENTRYPOINT /deploybot; use args", c.Command)
	}
	if want := []string{"serve", "--config", configPath}; !slices.Equal(c.Args, want) {
		t.Errorf("container args = %q, want %q", c.Args, want)
	}

	// Ports and probes.
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if !slices.ContainsFunc(c.Ports, func(p containerPort) bool { return p.ContainerPort == 8080 }) {
		t.Errorf("container ports %v lack 8080 (listen: \":8080\")", c.Ports)
	}
	routes := handlerRoutes(t)
	checkProbe := func(what string, p *probe, wantPath string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe on %s", what, wantPath)
			return
		}
		if p.HTTPGet.Path != wantPath {
			t.Errorf("%s path = %q, want %q", what, p.HTTPGet.Path, wantPath)
		}
		if !routes["GET "+p.HTTPGet.Path] {
			t.Errorf("%s: the bot serves no GET %s (routes: %v)", what, p.HTTPGet.Path, sortedKeys(routes))
		}
		if port := resolvePort(p.HTTPGet.Port, ports); port != 8080 {
			t.Errorf("%s port %v is %d, want 8080", what, p.HTTPGet.Port, port)
		}
	}
	checkProbe("livenessProbe", c.LivenessProbe, "/healthz")
	checkProbe("readinessProbe", c.ReadinessProbe, "/readyz")
	if c.StartupProbe != nil {
		checkProbe("startupProbe", c.StartupProbe, "/healthz")
	}

	// Runs as non-root, read-only, unprivileged, with resources.
	isTrue := func(b *bool) bool { return b != nil && *b }
	nonRoot := false
	for _, sc := range []*securityContext{pod.SecurityContext, c.SecurityContext} {
		if sc == nil {
			continue
		}
		if isTrue(sc.RunAsNonRoot) {
			nonRoot = true
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Error("securityContext runAsUser is 0 (root)")
		}
	}
	if !nonRoot {
		t.Error("neither the pod nor the container sets runAsNonRoot: true")
	}
	if sc := c.SecurityContext; sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("container securityContext lacks readOnlyRootFilesystem: true")
	} else {
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("container securityContext lacks allowPrivilegeEscalation: false")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Error("container securityContext does not drop ALL capabilities")
		}
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("container has no %s request", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("container has no memory limit")
	}
	memLimit, err := k8sBytes(c.Resources.Limits["memory"])
	if err != nil {
		t.Errorf("memory limit: %v", err)
	}

	// Environment: the replica id from the pod name, secrets from the Secret.
	env := map[string]envVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s is set twice", e.Name)
		}
		env[e.Name] = e
	}
	if e, ok := env["DEPLOYBOT_REPLICA_ID"]; !ok || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Error("DEPLOYBOT_REPLICA_ID is not the pod name (valueFrom.fieldRef.fieldPath: metadata.name)")
	}
	secretKeys := map[string]map[string]string{} // Secret name → key → value
	for _, o := range byKind["Secret"] {
		var s struct {
			Data       map[string]string `yaml:"data"`
			StringData map[string]string `yaml:"stringData"`
		}
		o.decode(t, &s)
		keys := map[string]string{}
		for k, v := range s.Data {
			keys[k] = v
		}
		for k, v := range s.StringData {
			keys[k] = v
		}
		secretKeys[o.Meta.Name] = keys
		if !o.Template {
			t.Errorf("%s: the Secret template must not be applied with the directory (put it in a subdirectory)", o.File)
		}
		for k, v := range keys {
			if !strings.Contains(v, "REPLACE_ME") {
				t.Errorf("%s: Secret key %s holds %q; a template holds REPLACE_ME placeholders, no real values", o.File, k, v)
			}
		}
	}
	used := map[string]map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		keys, ok := secretKeys[ref.Name]
		switch {
		case !ok:
			t.Errorf("env %s reads Secret %q, which no manifest defines", e.Name, ref.Name)
		case !hasKey(keys, ref.Key):
			t.Errorf("env %s reads key %q of Secret %q, which the template lacks (it has %v)", e.Name, ref.Key, ref.Name, sortedKeys(keys))
		}
		if used[ref.Name] == nil {
			used[ref.Name] = map[string]bool{}
		}
		used[ref.Name][ref.Key] = true
	}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			t.Errorf("envFrom Secret %q: name each variable with secretKeyRef so a missing key is caught", ef.SecretRef.Name)
		}
	}
	for name, keys := range secretKeys {
		for k := range keys {
			if !used[name][k] {
				t.Errorf("Secret %s key %s is read by no env var", name, k)
			}
		}
	}
	for _, want := range []string{"GITHUB_APP_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL", "DEPLOYBOT_DASHBOARD_TOKEN"} {
		if e, ok := env[want]; !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s does not come from a Secret", want)
		}
	}
	if memLimit > 0 {
		checkGOMEMLIMIT(t, "the Deployment", env["GOMEMLIMIT"].Value, memLimit)
	}

	// The config: a ConfigMap mounted at configPath, valid, on PostgreSQL.
	var mountedFrom, mountedKey string
	for _, m := range c.VolumeMounts {
		var vol *volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == m.Name {
				vol = &pod.Volumes[i]
			}
		}
		if vol == nil {
			t.Errorf("volumeMount %s names no volume", m.Name)
			continue
		}
		if vol.ConfigMap == nil {
			continue
		}
		file := path.Base(configPath)
		switch {
		case m.SubPath != "" && path.Join(m.MountPath) == configPath:
			file = m.SubPath
		case m.SubPath == "" && path.Clean(m.MountPath) == path.Dir(configPath):
		default:
			continue
		}
		if !m.ReadOnly {
			t.Errorf("the config volume %s is not mounted readOnly", m.Name)
		}
		mountedFrom, mountedKey = vol.ConfigMap.Name, file
		for _, it := range vol.ConfigMap.Items {
			if it.Path == file {
				mountedKey = it.Key
			}
		}
	}
	if mountedFrom == "" {
		t.Fatalf("no ConfigMap is mounted so that %s exists", configPath)
	}
	cm := find("ConfigMap", mountedFrom)
	if cm == nil {
		t.Fatalf("the config volume names ConfigMap %q, which no manifest defines", mountedFrom)
	}
	var cmData struct {
		Data map[string]string `yaml:"data"`
	}
	cm.decode(t, &cmData)
	config, ok := cmData.Data[mountedKey]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %q", mountedFrom, mountedKey)
	}
	setVars := map[string]bool{}
	for name := range env {
		setVars[name] = true
	}
	cfg := checkConfig(t, cm.File+": "+mountedKey, []byte(config), setVars)

	// The identity for AWS: IRSA on the ServiceAccount.
	sa := find("ServiceAccount", pod.ServiceAccountName)
	switch {
	case pod.ServiceAccountName == "":
		t.Error("the pod names no serviceAccountName")
	case sa == nil:
		t.Errorf("serviceAccountName %q: no such ServiceAccount in the manifests", pod.ServiceAccountName)
	case !regexp.MustCompile(`^arn:aws:iam::\d{12}:role/.+`).MatchString(sa.Meta.Annotations["eks.amazonaws.com/role-arn"]):
		t.Errorf("ServiceAccount %s: annotation eks.amazonaws.com/role-arn = %q, want a role ARN", sa.Meta.Name, sa.Meta.Annotations["eks.amazonaws.com/role-arn"])
	}

	// The Service and the PodDisruptionBudget select the pods.
	if len(byKind["Service"]) == 0 {
		t.Error("no Service")
	}
	for _, o := range byKind["Service"] {
		var svc struct {
			Spec struct {
				Selector map[string]string `yaml:"selector"`
				Ports    []struct {
					Port       int `yaml:"port"`
					TargetPort any `yaml:"targetPort"`
				} `yaml:"ports"`
			} `yaml:"spec"`
		}
		o.decode(t, &svc)
		if len(svc.Spec.Selector) == 0 || !labelsMatch(svc.Spec.Selector, podLabels) {
			t.Errorf("Service %s selector %v does not select the pods %v", o.Meta.Name, svc.Spec.Selector, podLabels)
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target == nil {
				target = p.Port
			}
			if resolvePort(target, ports) != 8080 {
				t.Errorf("Service %s port %d targets %v, not the container's 8080", o.Meta.Name, p.Port, target)
			}
		}
	}
	for _, o := range byKind["PodDisruptionBudget"] {
		var pdb struct {
			Spec struct {
				MinAvailable *int `yaml:"minAvailable"`
				Selector     struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				} `yaml:"selector"`
			} `yaml:"spec"`
		}
		o.decode(t, &pdb)
		if !labelsMatch(pdb.Spec.Selector.MatchLabels, podLabels) {
			t.Errorf("PodDisruptionBudget %s does not select the pods", o.Meta.Name)
		}
		if m := pdb.Spec.MinAvailable; m != nil && dep.Spec.Replicas != nil && *m >= *dep.Spec.Replicas {
			t.Errorf("PodDisruptionBudget %s minAvailable %d would block every drain with %d replicas", o.Meta.Name, *m, *dep.Spec.Replicas)
		}
	}
	if cfg != nil && cfg.PublicURL == "" {
		t.Error("the Kubernetes config sets no public_url")
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func resolvePort(p any, named map[string]int) int {
	switch v := p.(type) {
	case int:
		return v
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		return named[v]
	}
	return 0
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---------------------------------------------------------------------
// The config files

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// checkConfig holds a deploybot config to what `deploybot serve` requires:
// every ${VAR} it names is set in the process's environment (set), its
// store is ${DATABASE_URL}, and with the variables filled it decodes into
// bot.Config with no unknown key and passes Validate. It returns the
// config, or nil when it does not load.
func checkConfig(t *testing.T, name string, data []byte, set map[string]bool) *bot.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Errorf("%s: %v", name, err)
		return nil
	}
	var store string
	raw := map[string]string{} // dashboard credential keys as written
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, key)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], strings.TrimPrefix(key+"."+n.Content[i].Value, "."))
			}
		case yaml.ScalarNode:
			if key == "store" {
				store = n.Value
			}
			if strings.HasPrefix(key, "dashboard.") {
				raw[key] = n.Value
			}
			if !envRef.MatchString(n.Value) {
				return
			}
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
				v := envRef.FindStringSubmatch(ref)[1]
				if !set[v] {
					t.Errorf("%s: %s uses ${%s}, which the container's environment does not set", name, key, v)
				}
				return placeholderFor(v)
			})
			// Typed again from the value, as the loader does: app_id is a number.
			n.Tag, n.Style = "", 0
		}
	}
	walk(&doc, "")
	if store != "${DATABASE_URL}" {
		t.Errorf("%s: store = %q, want ${DATABASE_URL} (PostgreSQL, from the Secret)", name, store)
	}
	filled, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(filled))
	dec.KnownFields(true)
	var cfg bot.Config
	if err := dec.Decode(&cfg); err != nil {
		t.Errorf("%s: does not load as deploybot's config: %v", name, err)
		return nil
	}
	for _, e := range cfg.Validate() {
		t.Errorf("%s: %v", name, e)
	}
	if !strings.HasPrefix(cfg.Store, "postgres://") {
		t.Errorf("%s: store %q is not PostgreSQL", name, cfg.Store)
	}
	// The dashboard, /api and /metrics are closed without credentials: a
	// production config sets some, from the environment, and is not
	// public (which is for the sandbox on loopback).
	if cfg.Dashboard.Public || !cfg.Dashboard.HasCredentials() {
		t.Errorf("%s: dashboard: want credentials (token, or username and password) and no public: true; got public %v", name, cfg.Dashboard.Public)
	}
	for _, k := range []string{"dashboard.token", "dashboard.password"} {
		if v, ok := raw[k]; ok && !envRef.MatchString(v) {
			t.Errorf("%s: %s is written in the file; take it from a Secret as ${VAR}", name, k)
		}
	}
	return &cfg
}

// checkGOMEMLIMIT holds the Go runtime's soft memory limit to the
// container's hard one (limit, in bytes). Above 90 % of it the runtime
// cannot keep the process out of the OOM killer: what it does not count
// (the binary's mapped pages, memory freed but not yet returned) needs
// the rest. Below 75 % the GC runs hard while memory the container may
// use sits idle.
func checkGOMEMLIMIT(t *testing.T, where, gomemlimit string, limit int64) {
	t.Helper()
	if gomemlimit == "" {
		t.Errorf("%s: GOMEMLIMIT is not set; set it to about 80 %% of the memory limit (%d MiB)", where, limit>>20)
		return
	}
	soft, err := goMemLimitBytes(gomemlimit)
	if err != nil {
		t.Errorf("%s: GOMEMLIMIT: %v", where, err)
		return
	}
	if pct := float64(soft) / float64(limit) * 100; pct < 75 || pct > 90 {
		t.Errorf("%s: GOMEMLIMIT %s is %.0f %% of the memory limit (%d MiB); want 75–90 %%", where, gomemlimit, pct, limit>>20)
	}
}

// byteUnits parses <digits><unit> with the given unit multipliers.
func byteUnits(s string, units map[string]int64) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	mult, ok := units[s[i:]]
	if err != nil || !ok {
		return 0, fmt.Errorf("cannot read %q as a size", s)
	}
	return n * mult, nil
}

// k8sBytes reads a Kubernetes memory quantity (256Mi, 1G, 268435456).
func k8sBytes(s string) (int64, error) {
	return byteUnits(s, map[string]int64{
		"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
		"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
	})
}

// goMemLimitBytes reads GOMEMLIMIT as the Go runtime does (208MiB).
func goMemLimitBytes(s string) (int64, error) {
	return byteUnits(s, map[string]int64{
		"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	})
}

// composeBytes reads a compose byte value (256m, 1g, 512mb): binary units.
func composeBytes(s string) (int64, error) {
	return byteUnits(strings.ToLower(s), map[string]int64{
		"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
	})
}

// placeholderFor is a value of the right shape for an environment
// variable the configs reference.
func placeholderFor(v string) string {
	switch {
	case v == "DATABASE_URL":
		return "postgres://deploybot:secret@postgres:5432/deploybot"
	case strings.HasSuffix(v, "_ID"):
		return "12345"
	}
	return "placeholder-" + strings.ToLower(v)
}

// ---------------------------------------------------------------------
// compose

type composeService struct {
	Image       string             `yaml:"image"`
	Build       any                `yaml:"build"`
	Command     []string           `yaml:"command"`
	Environment map[string]*string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Volumes  []string `yaml:"volumes"`
	ReadOnly bool     `yaml:"read_only"`
	MemLimit string   `yaml:"mem_limit"`
}

func TestCompose(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]composeService `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	pg, ok := f.Services["postgres"]
	if !ok {
		t.Fatal("compose.yaml has no postgres service")
	}
	if pg.Image != "postgres:15" {
		t.Errorf("postgres image = %q, want postgres:15", pg.Image)
	}
	if pg.Healthcheck == nil || len(pg.Healthcheck.Test) == 0 || pg.Healthcheck.Test[0] == "NONE" {
		t.Error("postgres has no healthcheck")
	}
	dataVolume := ""
	for _, v := range pg.Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/var/lib/postgresql/data") {
			dataVolume = src
		}
	}
	if dataVolume == "" {
		t.Error("postgres keeps its data in no volume (/var/lib/postgresql/data)")
	} else if !strings.ContainsAny(dataVolume, "./") && !hasKey(f.Volumes, dataVolume) {
		t.Errorf("postgres volume %q is not declared under volumes:", dataVolume)
	}

	svc, ok := f.Services["deploybot"]
	if !ok {
		t.Fatal("compose.yaml has no deploybot service")
	}
	if svc.Image == "" && svc.Build == nil {
		t.Error("deploybot has neither image nor build")
	}
	if d, ok := svc.DependsOn["postgres"]; !ok || d.Condition != "service_healthy" {
		t.Error("deploybot does not depend on postgres being healthy (depends_on.postgres.condition: service_healthy)")
	}
	if want := []string{"serve", "--config", configPath}; !slices.Equal(svc.Command, want) {
		t.Errorf("deploybot command = %q, want %q", svc.Command, want)
	}
	if !svc.ReadOnly {
		t.Error("deploybot's root filesystem is not read_only")
	}
	configFile := ""
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == configPath {
			configFile = parts[0]
		}
	}
	if configFile == "" {
		t.Fatalf("deploybot mounts nothing at %s", configPath)
	}
	if configFile != "./compose/deploybot.yaml" {
		t.Errorf("deploybot mounts its config from %s, want ./compose/deploybot.yaml", configFile)
	}
	config, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for k := range svc.Environment {
		set[k] = true
	}
	checkConfig(t, configFile, config, set)

	// Secrets come from the environment, never from the file.
	for _, k := range []string{"GITHUB_APP_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DEPLOYBOT_DASHBOARD_TOKEN"} {
		if v := svc.Environment[k]; v == nil || !strings.HasPrefix(*v, "${"+k) {
			t.Errorf("deploybot env %s is not taken from the environment (${%s…})", k, k)
		}
	}
	// A memory limit, and the Go runtime told to stay below it.
	if svc.MemLimit == "" {
		t.Error("deploybot has no mem_limit")
	} else if limit, err := composeBytes(svc.MemLimit); err != nil {
		t.Errorf("deploybot mem_limit: %v", err)
	} else {
		gomemlimit := ""
		if v := svc.Environment["GOMEMLIMIT"]; v != nil {
			gomemlimit = *v
		}
		checkGOMEMLIMIT(t, "compose's deploybot", gomemlimit, limit)
	}
	// DATABASE_URL points at the postgres service, its user and database.
	dbURL := svc.Environment["DATABASE_URL"]
	if dbURL == nil {
		t.Fatal("deploybot env has no DATABASE_URL")
	}
	u, err := url.Parse(regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(*dbURL, "x"))
	if err != nil {
		t.Fatalf("DATABASE_URL %q: %v", *dbURL, err)
	}
	pgEnv := func(k string) string {
		if v := pg.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if u.Scheme != "postgres" || u.Hostname() != "postgres" || u.User.Username() != pgEnv("POSTGRES_USER") || strings.TrimPrefix(u.Path, "/") != pgEnv("POSTGRES_DB") {
		t.Errorf("DATABASE_URL %q does not name the postgres service with POSTGRES_USER %q and POSTGRES_DB %q", *dbURL, pgEnv("POSTGRES_USER"), pgEnv("POSTGRES_DB"))
	}

	// Every variable compose insists on (${VAR:?…}) is in the env example.
	example, err := os.ReadFile("compose/env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+):\?`).FindAllStringSubmatch(string(data), -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).Match(example) {
			t.Errorf("compose.yaml requires %s; compose/env.example does not list it", m[1])
		}
	}
}

// ---------------------------------------------------------------------
// GitHub App and Slack app

var (
	wantGitHubPermissions = map[string]string{
		"deployments":   "write",
		"statuses":      "read",
		"checks":        "read",
		"contents":      "read",
		"metadata":      "read",
		"pull_requests": "read",
		"issues":        "write",
		"members":       "read",
	}
	wantGitHubEvents = []string{"check_run", "check_suite", "deployment", "issue_comment", "pull_request", "push", "status"}
	// eventPermission is the permission GitHub requires to subscribe to an
	// event.
	eventPermission = map[string]string{
		"check_run":     "checks",
		"check_suite":   "checks",
		"deployment":    "deployments",
		"issue_comment": "issues",
		"pull_request":  "pull_requests",
		"push":          "contents",
		"status":        "statuses",
	}
)

func TestGitHubAppManifest(t *testing.T) {
	data, err := os.ReadFile("github-app-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	// The parameters GitHub documents for a manifest; anything else is a typo.
	var m struct {
		Name           string `json:"name"`
		Description    string `json:"description"`
		URL            string `json:"url"`
		HookAttributes *struct {
			URL    string `json:"url"`
			Active *bool  `json:"active"`
		} `json:"hook_attributes"`
		RedirectURL           string            `json:"redirect_url"`
		CallbackURLs          []string          `json:"callback_urls"`
		SetupURL              string            `json:"setup_url"`
		Public                *bool             `json:"public"`
		DefaultEvents         []string          `json:"default_events"`
		DefaultPermissions    map[string]string `json:"default_permissions"`
		RequestOAuthOnInstall bool              `json:"request_oauth_on_install"`
		SetupOnUpdate         bool              `json:"setup_on_update"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("github-app-manifest.json: %v", err)
	}
	if m.Name == "" || m.URL == "" {
		t.Error("the manifest needs name and url")
	}
	if m.Public == nil || *m.Public {
		t.Error("public must be false: the App is installed only by its owner")
	}
	if !reflect.DeepEqual(m.DefaultPermissions, wantGitHubPermissions) {
		for k, v := range wantGitHubPermissions {
			if m.DefaultPermissions[k] != v {
				t.Errorf("permission %s = %q, want %q", k, m.DefaultPermissions[k], v)
			}
		}
		for k, v := range m.DefaultPermissions {
			if _, ok := wantGitHubPermissions[k]; !ok {
				t.Errorf("permission %s: %s is not one deploybot needs", k, v)
			}
		}
	}
	events := slices.Clone(m.DefaultEvents)
	sort.Strings(events)
	if !slices.Equal(events, wantGitHubEvents) {
		t.Errorf("default_events = %q, want %q", events, wantGitHubEvents)
	}
	handled := handlerCaseStrings(t)
	for _, e := range m.DefaultEvents {
		if p := eventPermission[e]; p != "" && m.DefaultPermissions[p] == "" {
			t.Errorf("event %s needs the %s permission", e, p)
		}
		if !handled[e] {
			t.Errorf("event %s: the webhook handler has no case for it", e)
		}
	}
	if m.HookAttributes == nil {
		t.Fatal("no hook_attributes")
	}
	if m.HookAttributes.Active != nil && !*m.HookAttributes.Active {
		t.Error("hook_attributes.active is false: deploybot needs the webhook")
	}
	checkBotURL(t, "hook_attributes.url", m.HookAttributes.URL, "POST", "/webhooks/github")
}

func TestSlackAppManifest(t *testing.T) {
	data, err := os.ReadFile("slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		DisplayInformation struct {
			Name string `yaml:"name"`
		} `yaml:"display_information"`
		Features struct {
			BotUser *struct {
				DisplayName string `yaml:"display_name"`
			} `yaml:"bot_user"`
			SlashCommands []struct {
				Command   string `yaml:"command"`
				URL       string `yaml:"url"`
				UsageHint string `yaml:"usage_hint"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuthConfig struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Interactivity struct {
				IsEnabled  bool   `yaml:"is_enabled"`
				RequestURL string `yaml:"request_url"`
			} `yaml:"interactivity"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("slack-app-manifest.yaml: %v", err)
	}
	if m.DisplayInformation.Name == "" {
		t.Error("no display_information.name")
	}
	if m.Features.BotUser == nil || m.Features.BotUser.DisplayName == "" {
		t.Error("no bot user (features.bot_user.display_name)")
	}
	found := false
	for _, c := range m.Features.SlashCommands {
		if c.Command != "/deploy" {
			continue
		}
		found = true
		if c.UsageHint == "" {
			t.Error("/deploy has no usage_hint")
		}
		checkBotURL(t, "/deploy url", c.URL, "POST", "/slack/commands")
	}
	if !found {
		t.Error("no /deploy slash command")
	}
	if !m.Settings.Interactivity.IsEnabled {
		t.Error("interactivity is off: the Roll back button needs it")
	}
	checkBotURL(t, "interactivity request_url", m.Settings.Interactivity.RequestURL, "POST", "/slack/interactions")
	scopes := slices.Clone(m.OAuthConfig.Scopes.Bot)
	sort.Strings(scopes)
	if want := []string{"chat:write", "chat:write.public", "commands"}; !slices.Equal(scopes, want) {
		t.Errorf("bot scopes = %q, want %q", scopes, want)
	}
}

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

// ---------------------------------------------------------------------
// IAM: the policies grant exactly what deployer/ calls

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
