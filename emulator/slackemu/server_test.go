package slackemu_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/emulator/slackemu"
)

const token = "xoxb-emulator"

type reply struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	Message struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	} `json:"message"`
}

// call makes a Web API call with a form body (token in the form, as
// slack-go does) or, when jsonBody is set, a JSON body with a bearer header.
func call(t *testing.T, base, method string, form url.Values, jsonBody string, bearer string) (reply, int) {
	t.Helper()
	var req *http.Request
	var err error
	if jsonBody != "" {
		req, err = http.NewRequest(http.MethodPost, base+"/api/"+method, strings.NewReader(jsonBody))
		if err == nil {
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
		}
	} else {
		req, err = http.NewRequest(http.MethodPost, base+"/api/"+method, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
	}
	return r, resp.StatusCode
}

func TestChannelIDsAreStable(t *testing.T) {
	a, b := slackemu.New(token), slackemu.New(token)
	other := a.AddChannel("other") // creation order must not matter
	id := a.AddChannel("#deploys")
	if got := a.AddChannel("deploys"); got != id {
		t.Errorf("AddChannel(deploys) = %s, want %s as for #deploys", got, id)
	}
	if got := b.AddChannel("#deploys"); got != id {
		t.Errorf("another emulator gave %s, want %s", got, id)
	}
	if other == id || !strings.HasPrefix(id, "C") {
		t.Errorf("ids %s and %s", id, other)
	}
}

func TestAuth(t *testing.T) {
	s, hs := slackemu.NewServer(token)
	defer hs.Close()
	s.AddChannel("#deploys")
	tests := []struct {
		name   string
		form   url.Values
		json   string
		bearer string
		want   string
	}{
		{"form token", url.Values{"token": {token}, "channel": {"#deploys"}, "text": {"hi"}}, "", "", ""},
		{"form bearer", url.Values{"channel": {"#deploys"}, "text": {"hi"}}, "", token, ""},
		{"json bearer", nil, `{"channel":"#deploys","text":"hi"}`, token, ""},
		{"json token in body is not enough", nil, `{"token":"` + token + `","channel":"#deploys","text":"hi"}`, "", "not_authed"},
		{"no token", url.Values{"channel": {"#deploys"}, "text": {"hi"}}, "", "", "not_authed"},
		{"wrong token", url.Values{"channel": {"#deploys"}, "text": {"hi"}}, "", "xoxb-wrong", "invalid_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, status := call(t, hs.URL, "chat.postMessage", tt.form, tt.json, tt.bearer)
			if status != http.StatusOK || r.OK != (tt.want == "") || r.Error != tt.want {
				t.Errorf("status %d, ok %v, error %q; want error %q", status, r.OK, r.Error, tt.want)
			}
		})
	}
	if n := len(s.Messages("#deploys")); n != 3 {
		t.Errorf("%d messages stored, want 3", n)
	}
}

func TestPostAndUpdate(t *testing.T) {
	s, hs := slackemu.NewServer(token)
	defer hs.Close()
	id := s.AddChannel("#deploys")

	blocks := `[{"type":"section","text":{"type":"mrkdwn","text":"deploying"}}]`
	r, _ := call(t, hs.URL, "chat.postMessage", nil,
		`{"channel":"#deploys","text":"deploying","blocks":`+blocks+`}`, token)
	if !r.OK || r.Channel != id || r.TS != "1700000000.000100" || r.Message.Text != "deploying" {
		t.Fatalf("post: %+v", r)
	}
	r2, _ := call(t, hs.URL, "chat.postMessage", url.Values{"token": {token}, "channel": {id}, "text": {"second"}}, "", "")
	if !r2.OK || r2.TS <= r.TS {
		t.Fatalf("second post: %+v", r2)
	}

	// Omitted blocks are kept.
	up := func(form url.Values) reply {
		form.Set("token", token)
		r, _ := call(t, hs.URL, "chat.update", form, "", "")
		return r
	}
	if u := up(url.Values{"channel": {id}, "ts": {r.TS}, "text": {"deployed"}}); !u.OK || u.TS != r.TS {
		t.Fatalf("update: %+v", u)
	}
	// An empty array removes them.
	if u := up(url.Values{"channel": {id}, "ts": {r.TS}, "text": {"done"}, "blocks": {"[]"}}); !u.OK {
		t.Fatalf("update: %+v", u)
	}
	for _, tt := range []struct {
		name string
		form url.Values
		want string
	}{
		{"channel name", url.Values{"channel": {"#deploys"}, "ts": {r.TS}, "text": {"x"}}, "channel_not_found"},
		{"unknown ts", url.Values{"channel": {id}, "ts": {"1.000001"}, "text": {"x"}}, "message_not_found"},
		{"no text", url.Values{"channel": {id}, "ts": {r.TS}}, "no_text"},
		{"eleven fields", url.Values{"channel": {id}, "ts": {r.TS}, "text": {"x"}, "blocks": {elevenFields()}}, "invalid_blocks"},
		{"not json", url.Values{"channel": {id}, "ts": {r.TS}, "text": {"x"}, "blocks": {"[{"}}, "invalid_blocks_format"},
	} {
		if u := up(tt.form); u.Error != tt.want {
			t.Errorf("%s: error %q, want %q", tt.name, u.Error, tt.want)
		}
	}

	got, ok := s.Message("#deploys", r.TS)
	if !ok {
		t.Fatal("message not found")
	}
	want := slackemu.Message{
		ID: 1, Channel: id, TS: r.TS, Text: "done", Edits: 2,
		History: []slackemu.Revision{
			{Text: "deploying", Blocks: []byte(blocks)},
			{Text: "deployed", Blocks: []byte(blocks)},
		},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("message (-got +want):\n%s", diff)
	}
	if n := len(s.Messages(id)); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func elevenFields() string {
	f := strings.Repeat(`{"type":"mrkdwn","text":"x"},`, 11)
	return `[{"type":"section","fields":[` + strings.TrimSuffix(f, ",") + `]}]`
}

func TestUnknownChannelAndMethod(t *testing.T) {
	s, hs := slackemu.NewServer(token)
	defer hs.Close()
	if r, _ := call(t, hs.URL, "chat.postMessage", url.Values{"token": {token}, "channel": {"#nowhere"}, "text": {"x"}}, "", ""); r.Error != "channel_not_found" {
		t.Errorf("unknown channel: %+v", r)
	}
	if r, _ := call(t, hs.URL, "chat.delete", url.Values{"token": {token}}, "", ""); r.Error != "unknown_method" {
		t.Errorf("unknown method: %+v", r)
	}
	want := []string{"chat.postMessage:channel_not_found", "chat.delete:unknown_method"}
	var got []string
	for _, c := range s.Calls() {
		got = append(got, c.Method+":"+c.Error)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
}

func TestFaults(t *testing.T) {
	s, hs := slackemu.NewServer(token)
	defer hs.Close()
	s.AddChannel("#deploys")
	form := url.Values{"token": {token}, "channel": {"#deploys"}, "text": {"x"}}

	s.RateLimitNext("chat.postMessage", 1500*time.Millisecond)
	s.FailNext("chat.postMessage", "fatal_error")
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/chat.postMessage", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("rate limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if r, _ := call(t, hs.URL, "chat.postMessage", form, "", ""); r.Error != "fatal_error" {
		t.Errorf("fault: %+v", r)
	}
	if r, _ := call(t, hs.URL, "chat.postMessage", form, "", ""); !r.OK {
		t.Errorf("after faults: %+v", r)
	}
}

func TestResponseURL(t *testing.T) {
	s, hs := slackemu.NewServer(token)
	defer hs.Close()
	u := s.NewResponseURL()
	if !strings.HasPrefix(u, hs.URL+"/response/") {
		t.Fatalf("response url %s", u)
	}
	post := func(url, body string) (int, string) {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r reply
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r.Error
	}
	if st, e := post(u, `{"text":"usage: /deploy app ref env","response_type":"ephemeral"}`); st != 200 || e != "" {
		t.Fatalf("post: %d %q", st, e)
	}
	if st, e := post(u, `{"text":"deploying","response_type":"in_channel","replace_original":true}`); st != 200 || e != "" {
		t.Fatalf("post: %d %q", st, e)
	}
	if st, e := post(u, `{"response_type":"ephemeral"}`); e != "no_text" {
		t.Errorf("empty: %d %q", st, e)
	}
	for range 3 {
		post(u, `{"text":"more"}`)
	}
	if _, e := post(u, `{"text":"sixth"}`); e != "used_url" {
		t.Errorf("sixth use: %q, want used_url", e)
	}
	if st, _ := post(hs.URL+"/response/R999999", `{"text":"x"}`); st != http.StatusNotFound {
		t.Errorf("unknown url: %d", st)
	}

	got := s.Responses(u)
	if len(got) != 5 {
		t.Fatalf("%d responses, want 5", len(got))
	}
	want := []slackemu.Response{
		{Text: "usage: /deploy app ref env", ResponseType: "ephemeral"},
		{Text: "deploying", ResponseType: "in_channel", ReplaceOriginal: true},
	}
	if diff := cmp.Diff(got[:2], want); diff != "" {
		t.Errorf("responses (-got +want):\n%s", diff)
	}
	if !got[0].Ephemeral() || got[1].Ephemeral() || !got[2].Ephemeral() {
		t.Error("Ephemeral: want true, false, true (omitted type is ephemeral)")
	}
	id := u[strings.LastIndex(u, "/")+1:]
	if diff := cmp.Diff(s.Responses(id), got); diff != "" {
		t.Errorf("Responses by id differs (-id +url):\n%s", diff)
	}
}
