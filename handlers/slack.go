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

// checkSlackHeaders checks what Slack's v0 signing puts in the headers —
// both present, the timestamp inside the replay window — so that a
// request that cannot be Slack's is refused before its body is read.
func checkSlackHeaders(header http.Header, now time.Time) error {
	tsHeader := header.Get("X-Slack-Request-Timestamp")
	sig := header.Get("X-Slack-Signature")
	if tsHeader == "" || sig == "" {
		return fmt.Errorf("missing X-Slack-Request-Timestamp or X-Slack-Signature")
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("bad X-Slack-Request-Timestamp %q", clip(tsHeader))
	}
	if age := now.Sub(time.Unix(ts, 0)); age > slackReplayWindow || age < -slackReplayWindow {
		return fmt.Errorf("timestamp %d is %s away from now, outside the %s window", ts, age.Round(time.Second), slackReplayWindow)
	}
	return nil
}

// verifySlack checks Slack's v0 request signature. slack-go's
// SecretsVerifier does the same but reads time.Now itself, and the replay
// window must be testable with Slack's published (2018) example.
func verifySlack(secret string, header http.Header, body []byte, now time.Time) error {
	if err := checkSlackHeaders(header, now); err != nil {
		return err
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", header.Get("X-Slack-Request-Timestamp"))
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(header.Get("X-Slack-Signature")), []byte(want)) {
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
	unread(w)
	if !hasContentType(r, "application/x-www-form-urlencoded") {
		http.Error(w, "Content-Type must be application/x-www-form-urlencoded, as Slack sends it", http.StatusUnsupportedMediaType)
		return nil, false
	}
	if s.Config.Slack.SigningSecret == "" {
		// Without a secret anyone could sign; refuse rather than trust.
		http.Error(w, "Slack is not configured on this deploybot (slack.signing_secret)", http.StatusServiceUnavailable)
		return nil, false
	}
	now := s.now()
	if err := checkSlackHeaders(r.Header, now); err != nil {
		s.refuseSlack(w, r, err)
		return nil, false
	}
	body, release, ok := s.readBody(w, r, maxSlackBody)
	if !ok {
		return nil, false
	}
	defer release()
	if err := verifySlack(s.Config.Slack.SigningSecret, r.Header, body, now); err != nil {
		s.refuseSlack(w, r, err)
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, false
	}
	return form, true
}

func (s *Server) refuseSlack(w http.ResponseWriter, r *http.Request, err error) {
	s.logger().Warn("slack request refused", "reason", err.Error(), "remote", r.RemoteAddr, "path", r.URL.Path)
	// The reason holds nothing secret and tells a clock skew from a wrong
	// secret.
	http.Error(w, "invalid Slack signature: "+err.Error(), http.StatusUnauthorized)
}

// slackWorkspace is who a Slack request says it comes from.
type slackWorkspace struct {
	TeamID, EnterpriseID, APIAppID string
}

// pinned refuses a request from a workspace, organisation or app other
// than the ones configured: a signing secret leaked from (or shared with)
// another workspace's app must not be enough to deploy here.
func (s *Server) pinned(w http.ResponseWriter, from slackWorkspace) bool {
	c := s.Config.Slack
	for _, pin := range []struct{ key, want, got string }{
		{"slack.team_id", c.TeamID, from.TeamID},
		{"slack.enterprise_id", c.EnterpriseID, from.EnterpriseID},
		{"slack.api_app_id", c.APIAppID, from.APIAppID},
	} {
		if pin.want != "" && pin.got != pin.want {
			s.logger().Warn("slack request refused", "reason", "not the configured workspace", "key", pin.key, "got", clip(pin.got))
			http.Error(w, fmt.Sprintf("this deploybot serves another Slack workspace or app (%s)", pin.key), http.StatusForbidden)
			return false
		}
	}
	return true
}

// firstSeen records a signed Slack request that is about to act, keyed by
// its signature, and reports whether it is new. Slack signs the
// timestamp with the body, so the signature names the request: one seen
// before is a replay (the signature stays valid for the whole replay
// window), and is refused without acting. The record is in the store, so
// a restart or another replica remembers it too. When it cannot be
// recorded it answers the request itself and returns false.
func (s *Server) firstSeen(w http.ResponseWriter, r *http.Request) bool {
	first, err := s.Deployments.FirstDelivery(r.Context(), bot.SlackRequest(r.Header.Get("X-Slack-Signature")))
	switch {
	case err != nil:
		s.logger().Error("record slack request", "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "deploybot could not record the request; nothing was done", http.StatusServiceUnavailable)
		return false
	case !first:
		s.logger().Warn("slack request refused", "reason", "replayed", "remote", r.RemoteAddr, "path", r.URL.Path)
		ephemeral(w, "This exact request was already handled; nothing was done again.")
		return false
	}
	return true
}

// slackCommand answers `/deploy …` within Slack's 3 seconds: a deploy is
// stored and started in the background before the reply.
func (s *Server) slackCommand(w http.ResponseWriter, r *http.Request) {
	form, ok := s.readSlackForm(w, r)
	if !ok {
		return
	}
	if !s.pinned(w, slackWorkspace{TeamID: form.Get("team_id"), EnterpriseID: form.Get("enterprise_id"), APIAppID: form.Get("api_app_id")}) {
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
	if acts(cmd.Kind) && !s.firstSeen(w, r) {
		return
	}
	switch cmd.Kind {
	case bot.CommandDeploy, bot.CommandRollback:
		var d *bot.Deployment
		if cmd.Kind == bot.CommandDeploy {
			d, err = s.Deployments.Accept(ctx, req)
		} else {
			d, err = s.Deployments.Rollback(ctx, req)
		}
		if err == nil {
			s.Deployments.Kick()
			verb := "accepted"
			if cmd.Kind == bot.CommandRollback {
				verb = fmt.Sprintf("accepted: rolling back to %s", bot.ShortSHA(d.SHA))
			}
			ref := d.Ref
			if ref == d.SHA {
				ref = bot.ShortSHA(ref)
			}
			msg = bot.Message{Text: bot.Textf("Deployment #%d %s: %s %s to %s. I'll post progress in the channel.", d.ID, verb, d.App, ref, d.Env).Slack()}
		}
	case bot.CommandStatus:
		msg, err = s.Deployments.Status(ctx, cmd.App, cmd.Env)
	case bot.CommandHistory:
		msg, err = s.Deployments.History(ctx, cmd.App, cmd.Env)
	case bot.CommandStats:
		msg, err = s.Deployments.Stats(ctx, cmd.App, cmd.Env)
	case bot.CommandLock:
		msg, err = s.Deployments.Lock(ctx, cmd.App, cmd.Env, requester, cmd.Reason, cmd.For)
		inChannel = true
	case bot.CommandUnlock:
		msg, err = s.Deployments.Unlock(ctx, cmd.App, cmd.Env, requester)
		inChannel = true
	case bot.CommandCancel:
		msg, err = s.Deployments.Cancel(ctx, cmd.ID, requester)
		inChannel = true
	case bot.CommandApprove, bot.CommandReject:
		msg, err = s.decide(ctx, cmd.Kind, cmd.ID, requester, cmd.Reason)
	case bot.CommandApps:
		msg = s.Deployments.Apps()
	case bot.CommandDryRun, bot.CommandPromote:
		msg, err = s.releaseCommand(ctx, cmd, req)
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
		// The message names what is known (apps, envs, where ids are); the
		// whole usage under it would bury that line.
		ephemeral(w, bot.ErrorText(err).Slack())
		return
	}
	reply(w, msg, inChannel)
}

// acts reports whether a command changes something, and so must not be
// carried out twice for one request; answers that only read may repeat.
func acts(k bot.CommandKind) bool {
	switch k {
	case bot.CommandDeploy, bot.CommandRollback, bot.CommandLock, bot.CommandUnlock, bot.CommandCancel,
		bot.CommandApprove, bot.CommandReject, bot.CommandPromote:
		return true
	}
	return false
}

// interaction is the part of Slack's block_actions payload deploybot reads.
type interaction struct {
	Type     string `json:"type"`
	APIAppID string `json:"api_app_id"`
	Team     struct {
		ID string `json:"id"`
	} `json:"team"`
	Enterprise *struct {
		ID string `json:"id"`
	} `json:"enterprise"`
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
	from := slackWorkspace{TeamID: in.Team.ID, APIAppID: in.APIAppID}
	if in.Enterprise != nil {
		from.EnterpriseID = in.Enterprise.ID
	}
	if !s.pinned(w, from) || !s.firstSeen(w, r) {
		return
	}
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	action := in.Actions[0]
	if s.approvalClick(ctx, in, action.ActionID, action.Value) {
		return
	}
	if action.ActionID != bot.ActionRollback {
		s.Deployments.Respond(ctx, in.ResponseURL, bot.Message{Text: bot.Textf("I do not know the action %q.", action.ActionID).Slack()})
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
		s.Deployments.Kick()
		text = bot.Textf("Deployment #%d accepted: rolling %s %s back to %s.", d.ID, d.App, d.Env, bot.ShortSHA(d.SHA)).Slack()
	case bot.ErrorCode(err) == bot.EINTERNAL:
		s.logger().Error("rollback button", "err", err, "user", in.User.ID)
		text = "Something went wrong inside deploybot; nothing was changed. Please try again."
	default:
		text = bot.ErrorText(err).Slack()
	}
	s.Deployments.Respond(ctx, in.ResponseURL, bot.Message{Text: text})
}
