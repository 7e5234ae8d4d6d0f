package slackemu_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/emulator/slackemu"
)

// signingExample is Slack's documented request-signing example, copied
// from the corpus into this package's testdata (source URL inside the file).
type signingExample struct {
	SigningSecret string            `json:"signing_secret"`
	Headers       map[string]string `json:"headers"`
	RawBody       string            `json:"raw_body"`
}

func loadExample(t *testing.T) signingExample {
	t.Helper()
	b, err := os.ReadFile("testdata/signing-example.json")
	if err != nil {
		t.Fatal(err)
	}
	var ex signingExample
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	return ex
}

func TestSignMatchesSlackDocumentedExample(t *testing.T) {
	ex := loadExample(t)
	sec, err := strconv.ParseInt(ex.Headers["X-Slack-Request-Timestamp"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	got := slackemu.Sign(ex.SigningSecret, time.Unix(sec, 0), []byte(ex.RawBody))
	if want := ex.Headers["X-Slack-Signature"]; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// The documented example's body is a real Slack slash command; building the
// same command must give the same bytes, or signatures would not match.
func TestCommandBodyMatchesSlackDocumentedExample(t *testing.T) {
	ex := loadExample(t)
	cmd := slackemu.Command{
		Token:       "xyzz0WbapA4vBCDEFasx0q6G",
		TeamID:      "T1DC2JH3J",
		TeamDomain:  "testteamnow",
		ChannelID:   "G8PSS9T3V",
		ChannelName: "foobar",
		UserID:      "U2CERLKJA",
		UserName:    "roadrunner",
		Command:     "/webhook-collect",
		ResponseURL: "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN",
		TriggerID:   "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
	}
	if got := string(cmd.Body()); got != ex.RawBody {
		t.Errorf("Body:\n got %s\nwant %s", got, ex.RawBody)
	}
}

// verifier is what a bot does with a Slack request, written out plainly and
// independently of Sign.
func verifier(secret string, now time.Time, got chan<- url.Values) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tsHeader := r.Header.Get("X-Slack-Request-Timestamp")
		ts, err := strconv.ParseInt(tsHeader, 10, 64)
		if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
			http.Error(w, "stale", http.StatusUnauthorized)
			return
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("v0:" + tsHeader + ":"))
		mac.Write(body)
		want := "v0=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Slack-Signature"))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad content type", http.StatusBadRequest)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		got <- form
	}
}

func TestSlashCommandIsAcceptedByVerifier(t *testing.T) {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	at := time.Unix(1531420618, 0)
	cmd := slackemu.Command{
		ChannelID:   "C024BE91L",
		ChannelName: "deploys",
		UserID:      "U024BE7LH",
		UserName:    "steve",
		Text:        "takumi-server cf7edb2 to dev & then /ä+",
		ResponseURL: "https://hooks.slack.com/commands/1234/5678",
		Timestamp:   at,
	}
	tests := []struct {
		name       string
		secret     string
		wantStatus int
	}{
		{"right secret", secret, http.StatusOK},
		{"wrong secret", "not-the-secret", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan url.Values, 1)
			bot := httptest.NewServer(verifier(secret, at.Add(time.Minute), got))
			defer bot.Close()

			resp, err := slackemu.SlashCommand(context.Background(), bot.Client(), bot.URL+"/slack/commands", tt.secret, cmd)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			want := url.Values{
				"token":        {"emulator-verification-token"},
				"team_id":      {slackemu.TeamID},
				"team_domain":  {slackemu.TeamName},
				"channel_id":   {"C024BE91L"},
				"channel_name": {"deploys"},
				"user_id":      {"U024BE7LH"},
				"user_name":    {"steve"},
				"command":      {"/deploy"},
				"text":         {"takumi-server cf7edb2 to dev & then /ä+"},
				"response_url": {"https://hooks.slack.com/commands/1234/5678"},
				"trigger_id":   {"1700000000.100000.0123456789abcdef0123456789abcdef"},
			}
			if diff := cmp.Diff(<-got, want); diff != "" {
				t.Errorf("form (-got +want):\n%s", diff)
			}
		})
	}
}

// slack-go's verifier and parser, which the bot may use, accept it too. Its
// verifier reads the real clock, hence the current timestamp here.
func TestSlashCommandIsAcceptedBySlackGo(t *testing.T) {
	const secret = "s3cr3t"
	got := make(chan slack.SlashCommand, 1)
	bot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sv, err := slack.NewSecretsVerifier(r.Header, secret)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		sv.Write(body)
		if err := sv.Ensure(); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sc, err := slack.SlashCommandParse(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- sc
	}))
	defer bot.Close()

	resp, err := slackemu.SlashCommand(context.Background(), nil, bot.URL, secret, slackemu.Command{
		UserID: "U1", UserName: "ann", ChannelID: "C1", Text: "status takumi-server",
		ResponseURL: "http://example.invalid/response/R1",
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, msg)
	}
	sc := <-got
	if sc.Command != "/deploy" || sc.Text != "status takumi-server" || sc.UserID != "U1" || sc.ResponseURL != "http://example.invalid/response/R1" {
		t.Errorf("parsed %+v", sc)
	}
}
