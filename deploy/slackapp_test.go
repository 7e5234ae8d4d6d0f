package deploy

import (
	"os"
	"slices"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"
)

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
	if want := []string{"chat:write", "chat:write.public", "commands", "users:read"}; !slices.Equal(scopes, want) {
		t.Errorf("bot scopes = %q, want %q", scopes, want)
	}
}
