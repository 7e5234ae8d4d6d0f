package bot

import "testing"

func TestAppFor(t *testing.T) {
	one := &Config{Apps: map[string]*App{"web": {Name: "web", Repo: "acme/shop"}}}
	two := &Config{Apps: map[string]*App{
		"web": {Name: "web", Repo: "acme/mono"},
		"api": {Name: "api", Repo: "acme/mono"},
	}}
	tests := []struct {
		name        string
		cfg         *Config
		repo, named string
		src         Source
		want        string
		wantErr     string
	}{
		{"only app", one, "acme/shop", "", SourcePRComment, "web", ""},
		{"only app, api", one, "acme/shop", "", SourceGitHubAPI, "web", ""},
		{"named", two, "acme/mono", "api", SourceGitHubAPI, "api", ""},
		{"no app for repo", one, "acme/other", "", SourcePRComment, "", "deploybot has no app for acme/other"},
		{"no app for repo, api", one, "acme/other", "", SourceGitHubAPI, "", "deploybot has no app for acme/other"},
		{"unknown name, comment", two, "acme/mono", "nope", SourcePRComment, "", `acme/mono has no app "nope"; its apps: api, web`},
		{"unknown name, api", two, "acme/mono", "nope", SourceGitHubAPI, "", `deploybot has no app "nope" for acme/mono`},
		{"several, comment", two, "acme/mono", "", SourcePRComment, "", "acme/mono deploys several apps (api, web); say which: deploy <app> to <env>"},
		{"several, api", two, "acme/mono", "", SourceGitHubAPI, "", "acme/mono has several apps (api, web); set payload.app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.AppFor(tt.repo, tt.named, tt.src)
			var gotErr string
			if err != nil {
				gotErr = ErrorMessage(err)
			}
			if got != tt.want || gotErr != tt.wantErr {
				t.Errorf("AppFor(%q, %q, %s) = %q, %q; want %q, %q", tt.repo, tt.named, tt.src, got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

// The keys are stored: a replica of this version must know the deliveries
// an older one recorded, or a redelivery during a rolling upgrade would
// act twice.
func TestDeliveryKeys(t *testing.T) {
	tests := []struct {
		got  Delivery
		want Delivery
	}{
		{WebhookDelivery("d1", "deployment"), Delivery{Key: "d1", Event: "deployment"}},
		{WebhookDelivery("d2", "push"), Delivery{Key: "push:d2", Event: "push"}},
		{CommentDelivery("acme/shop", 42), Delivery{Key: "issue_comment:acme/shop:42", Event: "issue_comment"}},
		{SlackRequest("v0=ab"), Delivery{Key: "slack:v0=ab", Event: "slack"}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %+v, want %+v", tt.got, tt.want)
		}
	}
}
