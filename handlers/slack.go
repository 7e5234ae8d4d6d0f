package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// slackReplayWindow is how old a signed Slack request may be; Slack's
// documentation asks for five minutes.
const slackReplayWindow = 5 * time.Minute

// verifySlack checks Slack's v0 request signature. slack-go's
// SecretsVerifier does the same but reads time.Now itself, and the replay
// window must be testable with Slack's published (2018) example.
func verifySlack(secret string, header http.Header, body []byte, now time.Time) error {
	tsHeader := header.Get("X-Slack-Request-Timestamp")
	sig := header.Get("X-Slack-Signature")
	if tsHeader == "" || sig == "" {
		return fmt.Errorf("missing X-Slack-Request-Timestamp or X-Slack-Signature")
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("bad X-Slack-Request-Timestamp %q", tsHeader)
	}
	if age := now.Sub(time.Unix(ts, 0)); age > slackReplayWindow || age < -slackReplayWindow {
		return fmt.Errorf("timestamp %d is %s away from now, outside the %s window", ts, age.Round(time.Second), slackReplayWindow)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", tsHeader)
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return fmt.Errorf("signature does not match")
	}
	return nil
}

// slackReply is the immediate answer to a slash command.
type slackReply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func ephemeral(w http.ResponseWriter, text string) {
	writeJSON(w, http.StatusOK, slackReply{ResponseType: "ephemeral", Text: text})
}

// slackCommand answers `/deploy …` within Slack's 3 seconds: it stores an
// accepted deployment and starts it in the background before replying.
func (s *Server) slackCommand(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, maxSlackBody)
	if !ok {
		return
	}
	if s.Config.Slack.SigningSecret == "" {
		// Without a secret anyone could sign; refuse rather than trust.
		http.Error(w, "Slack is not configured on this deploybot (slack.signing_secret)", http.StatusServiceUnavailable)
		return
	}
	if err := verifySlack(s.Config.Slack.SigningSecret, r.Header, body, s.now()); err != nil {
		s.logger().Warn("slack request refused", "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, "invalid Slack signature", http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	user := form.Get("user_id")
	cmd := bot.ParseSlackCommand(form.Get("text"))
	if cmd.Kind != bot.CommandDeploy {
		ephemeral(w, cmd.Reply)
		return
	}
	d, err := s.Deployments.Accept(r.Context(), bot.Request{
		App: cmd.App, Env: cmd.Env, Ref: cmd.Ref,
		Requester: bot.SlackRequester(user), Source: bot.SourceSlack,
		SlackChannel: form.Get("channel_id"), SlackResponseURL: form.Get("response_url"),
	})
	if err != nil {
		if bot.ErrorCode(err) == bot.EINTERNAL {
			s.logger().Error("accept slack deploy", "err", err, "user", user)
			ephemeral(w, "Something went wrong inside deploybot; nothing was deployed. Please try again.")
			return
		}
		ephemeral(w, bot.ErrorMessage(err)+"\n"+bot.SlackUsage)
		return
	}
	s.Deployments.Start(d)
	ephemeral(w, fmt.Sprintf("Deployment #%d accepted: %s %s to %s. I'll post progress in the channel.", d.ID, d.App, d.Ref, d.Env))
}
