package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

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
	for _, want := range []string{"GITHUB_APP_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL", "DEPLOYBOT_DASHBOARD_TOKEN", "DEPLOYBOT_DASHBOARD_PASSWORD"} {
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
