package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"sort"
	"testing"
)

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
