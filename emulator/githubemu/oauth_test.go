package githubemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestOAuthWebFlow(t *testing.T) {
	e := New(1, nil)
	srv := httptest.NewServer(e)
	defer srv.Close()
	e.SetOAuthClient("Iv1.abc", "shh")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := srv.URL + "/login/oauth/authorize?client_id=Iv1.abc&state=s1&redirect_uri=" + url.QueryEscape("http://bot.example/login/callback")

	resp, err := noFollow.Get(authorize)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("authorize while signed out: %d; want 401", resp.StatusCode)
	}
	e.SignIn("octocat")
	resp, err = noFollow.Get(authorize)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || back.Host != "bot.example" || back.Query().Get("state") != "s1" || back.Query().Get("code") == "" {
		t.Fatalf("authorize: %d to %q; want a redirect back with a code and the state", resp.StatusCode, resp.Header.Get("Location"))
	}
	code := back.Query().Get("code")

	exchange := func(secret string) map[string]string {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/login/oauth/access_token", strings.NewReader(url.Values{
			"client_id": {"Iv1.abc"}, "client_secret": {secret}, "code": {code}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := exchange("wrong"); got["error"] != "incorrect_client_credentials" {
		t.Errorf("exchange with a wrong secret = %v", got)
	}
	got := exchange("shh")
	token := got["access_token"]
	if token == "" {
		t.Fatalf("exchange = %v; want a token", got)
	}
	if again := exchange("shh"); again["error"] != "bad_verification_code" {
		t.Errorf("a code used twice = %v; want bad_verification_code", again)
	}

	user := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+Prefix+"/user", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var u struct{ Login string }
		_ = json.NewDecoder(resp.Body).Decode(&u)
		return resp.StatusCode, u.Login
	}
	if code, login := user("Bearer " + token); code != 200 || login != "octocat" {
		t.Errorf("GET /user = %d %q; want octocat", code, login)
	}
	if code, _ := user("Bearer gho_forged"); code != http.StatusUnauthorized {
		t.Errorf("GET /user with a forged token = %d; want 401", code)
	}
	if code, _ := user(""); code != http.StatusUnauthorized {
		t.Errorf("GET /user without a token = %d; want 401", code)
	}
}
