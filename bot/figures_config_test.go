package bot

import "testing"

// A dashboard login needs both halves of the App's OAuth client.
func TestValidateOAuthClient(t *testing.T) {
	for _, tt := range []struct {
		id, secret string
		bad        bool
	}{{"", "", false}, {"Iv1.abc", "s", false}, {"Iv1.abc", "", true}, {"", "s", true}} {
		c := &Config{GitHub: GitHubConfig{Token: "t", ClientID: tt.id, ClientSecret: tt.secret}}
		found := false
		for _, e := range c.Validate() {
			found = found || e.Key == "github.client_secret"
		}
		if found != tt.bad {
			t.Errorf("client_id %q, client_secret %q: error %v; want %v", tt.id, tt.secret, found, tt.bad)
		}
	}
}
