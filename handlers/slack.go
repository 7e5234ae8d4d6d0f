package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// slackReply is the immediate answer to a slash command: Block Kit where
// fields help reading, with the text as the fallback.
type slackReply struct {
	ResponseType string           `json:"response_type"`
	Text         string           `json:"text"`
	Blocks       []map[string]any `json:"blocks,omitempty"`
}

func ephemeral(w http.ResponseWriter, text string) {
	writeJSON(w, http.StatusOK, slackReply{ResponseType: "ephemeral", Text: text})
}

// reply answers with msg; inChannel shows it to the whole channel, for
// actions others should know about (locks, rollbacks, cancels).
func reply(w http.ResponseWriter, msg bot.Message, inChannel bool) {
	r := slackReply{ResponseType: "ephemeral", Text: msg.Text}
	if inChannel {
		r.ResponseType = "in_channel"
	}
	if len(msg.Fields) > 0 {
		r.Blocks = append(r.Blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": firstLine(msg.Text)}})
		// Slack shows at most 10 fields in a section.
		for i := 0; i < len(msg.Fields); i += 10 {
			var fields []map[string]any
			for _, f := range msg.Fields[i:min(i+10, len(msg.Fields))] {
				fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + f.Label + "*\n" + f.Value})
			}
			r.Blocks = append(r.Blocks, map[string]any{"type": "section", "fields": fields})
		}
	}
	writeJSON(w, http.StatusOK, r)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// readSlackForm reads a signed Slack request and returns its form; it
// answers the request itself and returns false when it is refused.
func (s *Server) readSlackForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if !hasContentType(r, "application/x-www-form-urlencoded") {
		http.Error(w, "Content-Type must be application/x-www-form-urlencoded, as Slack sends it", http.StatusUnsupportedMediaType)
		return nil, false
	}
	body, ok := readBody(w, r, maxSlackBody)
	if !ok {
		return nil, false
	}
	if s.Config.Slack.SigningSecret == "" {
		// Without a secret anyone could sign; refuse rather than trust.
		http.Error(w, "Slack is not configured on this deploybot (slack.signing_secret)", http.StatusServiceUnavailable)
		return nil, false
	}
	if err := verifySlack(s.Config.Slack.SigningSecret, r.Header, body, s.now()); err != nil {
		s.logger().Warn("slack request refused", "reason", err.Error(), "remote", r.RemoteAddr, "path", r.URL.Path)
		// The reason holds nothing secret and tells a clock skew from a
		// wrong secret.
		http.Error(w, "invalid Slack signature: "+err.Error(), http.StatusUnauthorized)
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, false
	}
	return form, true
}

// slackCommand answers `/deploy …` within Slack's 3 seconds: a deploy is
// stored and started in the background before the reply.
func (s *Server) slackCommand(w http.ResponseWriter, r *http.Request) {
	form, ok := s.readSlackForm(w, r)
	if !ok {
		return
	}
	var err error
	ctx := r.Context()
	user := form.Get("user_id")
	requester := bot.SlackRequester(user)
	cmd := bot.ParseSlackCommand(form.Get("text"))
	req := bot.Request{
		App: cmd.App, Env: cmd.Env, Ref: cmd.Ref,
		Requester: requester, Source: bot.SourceSlack,
		SlackChannel: form.Get("channel_id"), SlackResponseURL: form.Get("response_url"),
	}
	var (
		msg       bot.Message
		inChannel bool
	)
	switch cmd.Kind {
	case bot.CommandDeploy, bot.CommandRollback:
		var d *bot.Deployment
		if cmd.Kind == bot.CommandDeploy {
			d, err = s.Deployments.Accept(ctx, req)
		} else {
			d, err = s.Deployments.Rollback(ctx, req)
		}
		if err == nil {
			s.Deployments.Start(d)
			verb := "accepted"
			if cmd.Kind == bot.CommandRollback {
				verb = fmt.Sprintf("accepted: rolling back to %s", shortSHA(d.SHA))
			}
			ref := d.Ref
			if ref == d.SHA {
				ref = shortSHA(ref)
			}
			msg = bot.Message{Text: fmt.Sprintf("Deployment #%d %s: %s %s to %s. I'll post progress in the channel.", d.ID, verb, d.App, ref, d.Env)}
		}
	case bot.CommandStatus:
		msg, err = s.Deployments.Status(ctx, cmd.App, cmd.Env)
	case bot.CommandHistory:
		msg, err = s.Deployments.History(ctx, cmd.App, cmd.Env)
	case bot.CommandLock:
		msg, err = s.Deployments.Lock(ctx, cmd.App, cmd.Env, requester, cmd.Reason, cmd.For)
		inChannel = true
	case bot.CommandUnlock:
		msg, err = s.Deployments.Unlock(ctx, cmd.App, cmd.Env, requester)
		inChannel = true
	case bot.CommandCancel:
		msg, err = s.Deployments.Cancel(ctx, cmd.ID, requester)
		inChannel = true
	case bot.CommandApps:
		msg = s.Deployments.Apps()
	default:
		ephemeral(w, cmd.Reply)
		return
	}
	if err != nil {
		if bot.ErrorCode(err) == bot.EINTERNAL {
			s.logger().Error("slack command", "kind", cmd.Kind, "err", err, "user", user)
			ephemeral(w, "Something went wrong inside deploybot; nothing was changed. Please try again.")
			return
		}
		text := bot.ErrorMessage(err)
		if bot.ErrorCode(err) == bot.ENOTFOUND || bot.ErrorCode(err) == bot.EINVALID {
			text += "\n" + bot.SlackUsage
		}
		ephemeral(w, text)
		return
	}
	reply(w, msg, inChannel)
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// interaction is the part of Slack's block_actions payload deploybot reads.
type interaction struct {
	Type string `json:"type"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// slackInteraction takes button clicks. Slack ignores the body of the
// answer to a block action, so the outcome goes to the clicker through
// the response_url, ephemeral.
func (s *Server) slackInteraction(w http.ResponseWriter, r *http.Request) {
	form, ok := s.readSlackForm(w, r)
	if !ok {
		return
	}
	var in interaction
	if err := json.Unmarshal([]byte(form.Get("payload")), &in); err != nil || in.Type != "block_actions" || len(in.Actions) == 0 {
		http.Error(w, "not a block_actions payload", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	action := in.Actions[0]
	if action.ActionID != bot.ActionRollback {
		s.Deployments.Respond(ctx, in.ResponseURL, bot.Message{Text: fmt.Sprintf("I do not know the action %q.", action.ActionID)})
		return
	}
	id, err := strconv.ParseInt(action.Value, 10, 64)
	if err != nil {
		s.Deployments.Respond(ctx, in.ResponseURL, bot.Message{Text: "That button does not name a deployment."})
		return
	}
	d, err := s.Deployments.RollbackFrom(ctx, id, bot.Request{
		Requester: bot.SlackRequester(in.User.ID), Source: bot.SourceSlack,
		SlackChannel: in.Channel.ID, SlackResponseURL: in.ResponseURL,
	})
	var text string
	switch {
	case err == nil:
		s.Deployments.Start(d)
		text = fmt.Sprintf("Deployment #%d accepted: rolling %s %s back to %s.", d.ID, d.App, d.Env, shortSHA(d.SHA))
	case bot.ErrorCode(err) == bot.EINTERNAL:
		s.logger().Error("rollback button", "err", err, "user", in.User.ID)
		text = "Something went wrong inside deploybot; nothing was changed. Please try again."
	default:
		text = bot.ErrorMessage(err)
	}
	s.Deployments.Respond(ctx, in.ResponseURL, bot.Message{Text: text})
}
