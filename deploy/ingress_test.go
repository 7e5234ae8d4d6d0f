package deploy

import (
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// publicRoutes are the only routes the world may reach: what GitHub and
// Slack call, and health for an uptime check. Everything else the bot
// serves (dashboard, /api, /metrics) shows who deploys what where.
var publicRoutes = []string{
	"POST /webhooks/github",
	"POST /slack/commands",
	"POST /slack/interactions",
	"GET /healthz",
}

type ingress struct {
	Spec struct {
		IngressClassName string `yaml:"ingressClassName"`
		DefaultBackend   any    `yaml:"defaultBackend"`
		TLS              []struct {
			Hosts      []string `yaml:"hosts"`
			SecretName string   `yaml:"secretName"`
		} `yaml:"tls"`
		Rules []struct {
			Host string `yaml:"host"`
			HTTP struct {
				Paths []ingressPath `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

type ingressPath struct {
	Path     string `yaml:"path"`
	PathType string `yaml:"pathType"`
	Backend  struct {
		Service struct {
			Name string `yaml:"name"`
			Port struct {
				Name   string `yaml:"name"`
				Number int    `yaml:"number"`
			} `yaml:"port"`
		} `yaml:"service"`
	} `yaml:"backend"`
}

// matches reports whether a request for p reaches this rule, by the
// Ingress API's path semantics; ImplementationSpecific counts as Prefix,
// the widest reading controllers give it.
func (ip ingressPath) matches(p string) bool {
	if ip.PathType == "Exact" {
		return p == ip.Path
	}
	prefix := strings.TrimSuffix(ip.Path, "/")
	return prefix == "" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// samplePath turns a ServeMux pattern's path into one request path it
// serves: /deployments/{id} → /deployments/1, /{$} → /.
func samplePath(pattern string) string {
	parts := strings.Split(pattern, "/")
	for i, part := range parts {
		switch {
		case part == "{$}":
			parts[i] = ""
		case strings.HasPrefix(part, "{"):
			parts[i] = "1"
		}
	}
	return path.Clean("/" + strings.Join(parts, "/"))
}

func TestIngressExposesOnlyPublicRoutes(t *testing.T) {
	objs := loadKubernetes(t)
	var ings []*k8sObject
	services := map[string]bool{}
	var publicURL string
	for _, o := range objs {
		switch o.Kind {
		case "Ingress":
			ings = append(ings, o)
		case "Service":
			services[o.Meta.Name] = true
		case "ConfigMap":
			var cm struct {
				Data map[string]string `yaml:"data"`
			}
			o.decode(t, &cm)
			var c struct {
				PublicURL string `yaml:"public_url"`
			}
			if err := yaml.Unmarshal([]byte(cm.Data["deploybot.yaml"]), &c); err != nil {
				t.Fatalf("%s: deploybot.yaml: %v", o.File, err)
			}
			publicURL = c.PublicURL
		}
	}
	if len(ings) != 1 || ings[0].Template {
		t.Fatalf("want one Ingress applied with the directory, found %d", len(ings))
	}
	var ing ingress
	ings[0].decode(t, &ing)
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		t.Fatalf("configmap public_url %q is not an https URL", publicURL)
	}

	if ing.Spec.DefaultBackend != nil {
		t.Error("the Ingress has a defaultBackend: every path not listed would reach the bot")
	}
	if ing.Spec.IngressClassName == "" {
		t.Error("the Ingress names no ingressClassName; with several controllers none may serve it")
	}
	tlsHosts := map[string]bool{}
	for _, tls := range ing.Spec.TLS {
		if tls.SecretName == "" {
			t.Error("an Ingress tls entry has no secretName")
		}
		for _, h := range tls.Hosts {
			tlsHosts[h] = true
		}
	}

	var paths []ingressPath
	for _, r := range ing.Spec.Rules {
		if r.Host == "" {
			t.Error("an Ingress rule has no host: it would answer for any name")
		}
		if !tlsHosts[r.Host] {
			t.Errorf("Ingress host %q is not in tls.hosts: GitHub and Slack call https only", r.Host)
		}
		if r.Host != u.Host {
			t.Errorf("Ingress host %q differs from public_url's %q", r.Host, u.Host)
		}
		for _, p := range r.HTTP.Paths {
			if p.PathType != "Exact" {
				t.Errorf("Ingress path %s is %s: a route added under it later would be public; use Exact", p.Path, p.PathType)
			}
			if b := p.Backend.Service; !services[b.Name] || b.Port.Name != "http" && b.Port.Number != 80 {
				t.Errorf("Ingress path %s goes to service %s port %v, not the deploybot Service's http port", p.Path, b.Name, b.Port)
			}
			paths = append(paths, p)
		}
	}

	routes := handlerRoutes(t)
	if !routes["GET /api/deployments"] {
		t.Fatalf("found no dashboard API among the routes (%v): the check below would prove nothing", sortedKeys(routes))
	}
	for route := range routes {
		_, pattern, _ := strings.Cut(route, " ")
		p := samplePath(pattern)
		exposed := slices.ContainsFunc(paths, func(ip ingressPath) bool { return ip.matches(p) })
		public := slices.Contains(publicRoutes, route)
		switch {
		case exposed && !public:
			t.Errorf("the Ingress exposes %s (as %s); only %v may be public", route, p, publicRoutes)
		case public && !exposed:
			t.Errorf("the Ingress does not expose %s, which GitHub, Slack or an uptime check calls", route)
		}
	}
	for _, r := range publicRoutes {
		if !routes[r] {
			t.Errorf("the bot serves no %s any more; publicRoutes is out of date", r)
		}
	}
}

func TestIngressPathMatching(t *testing.T) {
	tests := []struct {
		ip   ingressPath
		p    string
		want bool
	}{
		{ingressPath{Path: "/slack/commands", PathType: "Exact"}, "/slack/commands", true},
		{ingressPath{Path: "/slack/commands", PathType: "Exact"}, "/slack/commands/x", false},
		{ingressPath{Path: "/slack", PathType: "Prefix"}, "/slack/interactions", true},
		{ingressPath{Path: "/slack", PathType: "Prefix"}, "/slackers", false},
		{ingressPath{Path: "/", PathType: "Prefix"}, "/api/deployments", true},
		{ingressPath{Path: "/api", PathType: "ImplementationSpecific"}, "/api/deployments/1", true},
	}
	for _, tt := range tests {
		if got := tt.ip.matches(tt.p); got != tt.want {
			t.Errorf("%s %s matches %s = %v, want %v", tt.ip.PathType, tt.ip.Path, tt.p, got, tt.want)
		}
	}
	for pattern, want := range map[string]string{"/{$}": "/", "/deployments/{id}": "/deployments/1", "/healthz": "/healthz"} {
		if got := samplePath(pattern); got != want {
			t.Errorf("samplePath(%q) = %q, want %q", pattern, got, want)
		}
	}
}
