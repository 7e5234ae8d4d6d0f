// Package slackemu is a local emulator of the parts of Slack deploybot talks
// to: the Web API methods auth.test, chat.postMessage and chat.update, and
// slash-command response_urls. It also plays Slack calling the bot
// (SlashCommand, Sign).
//
// slack-go's own slacktest has neither chat.update nor response_url, which
// are the two things deploybot's Slack view depends on, hence this package.
//
// The emulator is deterministic: message timestamps come from a counter, not
// the clock, and channel ids are derived from channel names, so two runs of
// the same scenario produce the same ids.
//
// Unknown channels are not auto-created: posting to a channel that was never
// added with AddChannel answers channel_not_found, as Slack does when the bot
// was never invited, so a misconfigured channel fails in tests as it would in
// production.
package slackemu

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deploybot/deploybot/emulator/faults"
)

// Identity the emulated workspace reports from auth.test and stamps on the
// bot's messages.
const (
	TeamID   = "T0EMULATOR"
	TeamName = "deploybot-emulator"
	BotUser  = "U0DEPLOYBOT"
	BotID    = "B0DEPLOYBOT"
)

// firstTS is the emulator's first message timestamp; later ones count up from
// it, so they sort like Slack's and never collide.
const firstTS = 1700000000_000100

// Message is one message the bot posted, as it reads now.
type Message struct {
	// ID numbers messages in the order they were posted, across channels,
	// from 1; Slack itself identifies a message by Channel and TS.
	ID       int
	Channel  string // channel id
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage // nil when the message has no blocks
	Edits    int
	History  []Revision // earlier versions, oldest first; len(History) == Edits
}

// Revision is one earlier version of an edited message.
type Revision struct {
	Text   string
	Blocks json.RawMessage
}

// Response is one POST the bot made to a response_url.
type Response struct {
	Text            string
	ResponseType    string // as sent; Slack treats "" as ephemeral
	Blocks          json.RawMessage
	ReplaceOriginal bool
	DeleteOriginal  bool
}

// Ephemeral reports whether only the person who ran the command sees it.
func (r Response) Ephemeral() bool { return r.ResponseType != "in_channel" }

// Call is one request the emulator answered.
type Call struct {
	Method string // Web API method, or "response_url"
	At     time.Time
	Error  string // Slack error code, "" when ok
}

// maxResponses is how many times Slack lets a response_url be used.
const maxResponses = 5

// Server is the emulator; it is an http.Handler.
type Server struct {
	token string
	mux   *http.ServeMux

	mu        sync.Mutex
	baseURL   string
	channels  map[string]string // name without '#' → id
	names     map[string]string // id → name
	users     map[string]User   // id → member (users.info)
	messages  []*Message        // in posting order
	nextTS    int64
	responses map[string][]Response
	nextResp  int
	calls     []Call
	faults    map[string][]fault

	outage faults.Injector
}

type fault struct {
	slackError  string
	rateLimited bool // answer HTTP 429 with Retry-After instead
	retryAfter  time.Duration
}

// New returns an emulator that accepts botToken.
func New(botToken string) *Server {
	s := &Server{
		token:     botToken,
		mux:       http.NewServeMux(),
		channels:  map[string]string{},
		names:     map[string]string{},
		nextTS:    firstTS,
		responses: map[string][]Response{},
		faults:    map[string][]fault{},
	}
	s.mux.HandleFunc("/api/{method}", s.serveAPI)
	s.mux.HandleFunc("POST /response/{id}", s.serveResponseURL)
	return s
}

// NewServer starts the emulator on a local httptest server whose URL it
// already knows; the caller closes the httptest server.
func NewServer(botToken string) (*Server, *httptest.Server) {
	s := New(botToken)
	hs := httptest.NewServer(s)
	s.SetBaseURL(hs.URL)
	return s, hs
}

// ServeHTTP serves the Web API under /api/ and response_urls under /response/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.outage.Apply(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Inject adds a fault below the Web API: an outage or slow answers, for
// every method the rule matches. Slack's own error answers are FailNext's.
func (s *Server) Inject(r faults.Rule) { s.outage.Add(r) }

// ClearFaults ends the outage.
func (s *Server) ClearFaults() { s.outage.Clear() }

// FaultHits counts the requests the injected faults answered or delayed.
func (s *Server) FaultHits() int { return s.outage.Hits() }

// Method matches Web API calls of method, e.g. "chat.update".
func Method(method string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.URL.Path == "/api/"+method }
}

// Unavailable answers as Slack's edge does during an incident.
func Unavailable(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "upstream connect error or disconnect/reset before headers", http.StatusServiceUnavailable)
}

// SetBaseURL tells the emulator where it is served, because response_urls
// are handed out before any request could reveal the host.
func (s *Server) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = strings.TrimRight(u, "/")
}

// APIURL is the Web API base URL for slack.OptionAPIURL.
func (s *Server) APIURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL + "/api/"
}

// AddChannel makes a channel exist and returns its id; adding it again
// returns the same id. The name may carry a leading '#'.
func (s *Server) AddChannel(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.TrimPrefix(name, "#")
	if id, ok := s.channels[name]; ok {
		return id
	}
	sum := sha256.Sum256([]byte(name))
	id := "C" + strings.ToUpper(hex.EncodeToString(sum[:5]))
	s.channels[name] = id
	s.names[id] = name
	return id
}

// ChannelID returns the id of a channel added by name, or "".
func (s *Server) ChannelID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channels[strings.TrimPrefix(name, "#")]
}

// NewResponseURL hands out a fresh response_url, as Slack does with each
// slash command. It panics if the base URL is unknown, because a relative
// URL would fail far from the cause.
func (s *Server) NewResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.baseURL == "" {
		panic("slackemu: NewResponseURL before SetBaseURL")
	}
	s.nextResp++
	id := fmt.Sprintf("R%06d", s.nextResp)
	s.responses[id] = nil
	return s.baseURL + "/response/" + id
}

// FailNext makes the next call of method answer with the Slack error code.
func (s *Server) FailNext(method, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], fault{slackError: slackError})
}

// RateLimitNext makes the next call of method answer HTTP 429 with a
// Retry-After of retryAfter, rounded up to whole seconds as Slack sends it;
// 0 sends "Retry-After: 0".
func (s *Server) RateLimitNext(method string, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], fault{slackError: "ratelimited", rateLimited: true, retryAfter: retryAfter})
}

// Messages returns the messages in a channel, given by id or name, oldest
// first.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.resolveLocked(channel)
	var out []Message
	for _, m := range s.messages {
		if m.Channel == id {
			out = append(out, m.clone())
		}
	}
	return out
}

// Message returns one message by channel (id or name) and ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.findLocked(s.resolveLocked(channel), ts); m != nil {
		return m.clone(), true
	}
	return Message{}, false
}

// Responses returns what was posted to a response_url, given by its id or
// the whole URL, in order.
func (s *Server) Responses(id string) []Response {
	if i := strings.LastIndex(id, "/response/"); i >= 0 {
		id = id[i+len("/response/"):]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Response, len(s.responses[id]))
	for i, r := range s.responses[id] {
		r.Blocks = cloneRaw(r.Blocks)
		out[i] = r
	}
	return out
}

// Calls returns every request answered so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (m *Message) clone() Message {
	c := *m
	c.Blocks = cloneRaw(m.Blocks)
	c.History = make([]Revision, len(m.History))
	for i, r := range m.History {
		c.History[i] = Revision{Text: r.Text, Blocks: cloneRaw(r.Blocks)}
	}
	return c
}

func cloneRaw(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

func (s *Server) resolveLocked(channel string) string {
	if _, ok := s.names[channel]; ok {
		return channel
	}
	return s.channels[strings.TrimPrefix(channel, "#")]
}

func (s *Server) findLocked(channelID, ts string) *Message {
	for _, m := range s.messages {
		if m.Channel == channelID && m.TS == ts {
			return m
		}
	}
	return nil
}

// args are a Web API call's arguments, from a form or a JSON body.
type args struct {
	values    map[string]string
	blocks    json.RawMessage
	hasBlocks bool
	json      bool
}

func (a args) get(k string) string { return a.values[k] }

func parseArgs(r *http.Request) (args, error) {
	a := args{values: map[string]string{}}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		a.json = true
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return a, err
		}
		for k, v := range body {
			if k == "blocks" {
				a.blocks, a.hasBlocks = v, true
				// Slack also accepts blocks as a JSON string inside JSON.
				var str string
				if json.Unmarshal(v, &str) == nil {
					a.blocks = json.RawMessage(str)
				}
				continue
			}
			var str string
			if json.Unmarshal(v, &str) == nil {
				a.values[k] = str
			} else {
				a.values[k] = string(v)
			}
		}
		return a, nil
	}
	if err := r.ParseForm(); err != nil {
		return a, err
	}
	for k := range r.Form {
		a.values[k] = r.Form.Get(k)
	}
	if _, ok := r.Form["blocks"]; ok {
		a.blocks, a.hasBlocks = json.RawMessage(r.Form.Get("blocks")), true
	}
	return a, nil
}

type apiHandler func(a args) (map[string]any, string)

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	handlers := map[string]apiHandler{
		"auth.test":        s.authTest,
		"chat.postMessage": s.postMessage,
		"chat.update":      s.update,
		"users.info":       s.usersInfo,
	}
	h, ok := handlers[method]
	if !ok {
		s.answer(w, method, nil, "unknown_method")
		return
	}
	a, err := parseArgs(r)
	if err != nil {
		s.answer(w, method, nil, "invalid_form_data")
		return
	}
	if e := s.authorize(r, a); e != "" {
		s.answer(w, method, nil, e)
		return
	}
	if f, ok := s.takeFault(method); ok {
		if f.rateLimited {
			s.record(method, f.slackError)
			secs := int64(math.Ceil(max(f.retryAfter, 0).Seconds()))
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			http.Error(w, "rate limited", http.StatusTooManyRequests)
			return
		}
		s.answer(w, method, nil, f.slackError)
		return
	}
	body, e := h(a)
	s.answer(w, method, body, e)
}

// authorize accepts the token where Slack does: the Authorization header,
// or for form bodies a token argument, which is how slack-go sends it on
// chat.* methods. JSON bodies must use the header, as on Slack.
func (s *Server) authorize(r *http.Request, a args) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && !a.json {
		tok, ok = a.get("token"), a.get("token") != ""
	}
	switch {
	case !ok || tok == "":
		return "not_authed"
	case tok != s.token:
		return "invalid_auth"
	}
	return ""
}

func (s *Server) takeFault(method string) (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[method]
	if len(q) == 0 {
		return fault{}, false
	}
	s.faults[method] = q[1:]
	return q[0], true
}

func (s *Server) record(method, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: method, At: time.Now(), Error: slackError})
}

// answer replies like Slack: HTTP 200 with ok true or false.
func (s *Server) answer(w http.ResponseWriter, method string, body map[string]any, slackError string) {
	s.record(method, slackError)
	if body == nil {
		body = map[string]any{}
	}
	body["ok"] = slackError == ""
	if slackError != "" {
		body = map[string]any{"ok": false, "error": slackError}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) authTest(args) (map[string]any, string) {
	return map[string]any{
		"url":     "https://" + TeamName + ".slack.com/",
		"team":    TeamName,
		"user":    "deploybot",
		"team_id": TeamID,
		"user_id": BotUser,
		"bot_id":  BotID,
	}, ""
}

func (s *Server) postMessage(a args) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.resolveLocked(a.get("channel"))
	if id == "" {
		return nil, "channel_not_found"
	}
	blocks, e := checkBlocks(a.blocks, a.hasBlocks)
	if e != "" {
		return nil, e
	}
	if a.get("text") == "" && blocks == nil && a.get("attachments") == "" {
		return nil, "no_text"
	}
	if len(a.get("text")) > 40000 {
		return nil, "msg_too_long"
	}
	if th := a.get("thread_ts"); th != "" && s.findLocked(id, th) == nil {
		return nil, "thread_not_found"
	}
	m := &Message{
		ID:       len(s.messages) + 1,
		Channel:  id,
		TS:       s.tsLocked(),
		ThreadTS: a.get("thread_ts"),
		Text:     a.get("text"),
		Blocks:   blocks,
	}
	s.messages = append(s.messages, m)
	return map[string]any{"channel": id, "ts": m.TS, "message": wireMessage(m)}, ""
}

// update requires the channel id, not a name, as chat.update does.
func (s *Server) update(a args) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := a.get("channel")
	if _, ok := s.names[id]; !ok {
		return nil, "channel_not_found"
	}
	m := s.findLocked(id, a.get("ts"))
	if m == nil {
		return nil, "message_not_found"
	}
	blocks, e := checkBlocks(a.blocks, a.hasBlocks)
	if e != "" {
		return nil, e
	}
	// As on Slack, omitted blocks are kept and an empty array removes them.
	newBlocks := m.Blocks
	if a.hasBlocks {
		newBlocks = blocks
	}
	if a.get("text") == "" && newBlocks == nil {
		return nil, "no_text"
	}
	m.History = append(m.History, Revision{Text: m.Text, Blocks: m.Blocks})
	m.Edits++
	m.Text, m.Blocks = a.get("text"), newBlocks
	return map[string]any{"channel": id, "ts": m.TS, "text": m.Text, "message": wireMessage(m)}, ""
}

func (s *Server) tsLocked() string {
	n := s.nextTS
	s.nextTS += 100
	return fmt.Sprintf("%d.%06d", n/1_000_000, n%1_000_000)
}

func wireMessage(m *Message) map[string]any {
	w := map[string]any{
		"type":    "message",
		"user":    BotUser,
		"bot_id":  BotID,
		"team":    TeamID,
		"text":    m.Text,
		"ts":      m.TS,
		"channel": m.Channel,
	}
	if m.ThreadTS != "" {
		w["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != nil {
		w["blocks"] = m.Blocks
	}
	if m.Edits > 0 {
		w["edited"] = map[string]any{"user": BotUser, "ts": m.TS}
	}
	return w
}

func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	reply := func(status int, slackError string) {
		s.record("response_url", slackError)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		if slackError == "" {
			_, _ = w.Write([]byte(`{"ok":true}` + "\n"))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": slackError})
	}
	var body struct {
		Text            string          `json:"text"`
		ResponseType    string          `json:"response_type"`
		Blocks          json.RawMessage `json:"blocks"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		reply(http.StatusBadRequest, "invalid_payload")
		return
	}
	blocks, e := checkBlocks(body.Blocks, body.Blocks != nil && string(body.Blocks) != "null")
	if e != "" {
		reply(http.StatusOK, e)
		return
	}
	if body.Text == "" && blocks == nil && !body.DeleteOriginal {
		reply(http.StatusOK, "no_text")
		return
	}
	s.mu.Lock()
	got, ok := s.responses[id]
	if ok && len(got) < maxResponses {
		s.responses[id] = append(got, Response{
			Text:            body.Text,
			ResponseType:    body.ResponseType,
			Blocks:          blocks,
			ReplaceOriginal: body.ReplaceOriginal,
			DeleteOriginal:  body.DeleteOriginal,
		})
	}
	s.mu.Unlock()
	switch {
	case !ok:
		reply(http.StatusNotFound, "expired_url")
		return
	case len(got) >= maxResponses:
		reply(http.StatusOK, "used_url")
		return
	}
	reply(http.StatusOK, "")
}
