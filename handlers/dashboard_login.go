package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Dashboard logins: GitHub's OAuth web flow with the App's client id and
// secret. A person signed in this way is "github:<login>" to the allow
// lists, and gets the dashboard's buttons; without it the dashboard is
// read-only. The session is a cookie signed with a key derived from the
// client secret, so every replica accepts it and none stores it.

const (
	sessionCookie  = "deploybot_session"
	stateCookie    = "deploybot_oauth_state"
	sessionTTL     = 12 * time.Hour
	loginStateTTL  = 10 * time.Minute
	csrfField      = "csrf"
	githubLoginURL = "/login/oauth/authorize"
	githubTokenURL = "/login/oauth/access_token"
)

// loginEnabled reports whether the App's OAuth client is configured.
func (s *Server) loginEnabled() bool {
	return s.Config != nil && s.Config.GitHub.ClientID != "" && s.Config.GitHub.ClientSecret != ""
}

// sessionKey signs sessions and CSRF tokens; it is not the secret itself,
// so a leaked cookie tells nothing about the client secret.
func (s *Server) sessionKey() []byte {
	m := hmac.New(sha256.New, []byte(s.Config.GitHub.ClientSecret))
	io.WriteString(m, "deploybot dashboard session v1")
	return m.Sum(nil)
}

func (s *Server) sign(payload string) string {
	m := hmac.New(sha256.New, s.sessionKey())
	io.WriteString(m, payload)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session is a signed-in person.
type session struct {
	Login string
	CSRF  string // the token each of this session's forms carries
}

// signedIn returns the session of r's cookie, or nil when there is none
// that is valid now.
func (s *Server) signedIn(r *http.Request) *session {
	if !s.loginEnabled() {
		return nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	payload, mac, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.sign(payload))) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	// login|expiry unix|nonce
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] == "" {
		return nil
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return nil
	}
	return &session{Login: parts[0], CSRF: s.sign("csrf|" + payload)}
}

// checkCSRF reports whether a POST of sess carries its token.
func checkCSRF(r *http.Request, sess *session) bool {
	return sess != nil && hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(sess.CSRF))
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// callbackURL is where GitHub sends the browser back: under public_url
// when configured, else under the host the browser asked.
func (s *Server) callbackURL(r *http.Request) string {
	if s.Config.PublicURL != "" {
		return strings.TrimSuffix(s.Config.PublicURL, "/") + "/login/callback"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/login/callback"
}

func (s *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.Config.PublicURL, "https://")
}

// login starts the web flow: a state bound to this browser by a cookie,
// then GitHub's authorize page.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.loginEnabled() {
		s.errorPage(w, http.StatusNotFound, "No GitHub login", "This deploybot has no GitHub OAuth client (github.client_id and client_secret), so its dashboard is read-only.")
		return
	}
	state := randomToken()
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/login", MaxAge: int(loginStateTTL.Seconds()),
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
	q := url.Values{"client_id": {s.Config.GitHub.ClientID}, "redirect_uri": {s.callbackURL(r)}, "state": {state}}
	http.Redirect(w, r, s.githubWebURL()+githubLoginURL+"?"+q.Encode(), http.StatusFound)
}

// loginCallback trades GitHub's code for a token, asks GitHub whose it
// is, and signs that login in. The token is not kept: the dashboard acts
// as deploybot, on behalf of the login, under the allow lists.
func (s *Server) loginCallback(w http.ResponseWriter, r *http.Request) {
	if !s.loginEnabled() {
		s.errorPage(w, http.StatusNotFound, "No GitHub login", "This deploybot has no GitHub OAuth client.")
		return
	}
	c, err := r.Cookie(stateCookie)
	q := r.URL.Query()
	if err != nil || q.Get("state") == "" || !hmac.Equal([]byte(c.Value), []byte(q.Get("state"))) {
		s.errorPage(w, http.StatusBadRequest, "Login failed", "The login did not start in this browser, or took too long. Try again from the dashboard.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/login", MaxAge: -1})
	if e := q.Get("error"); e != "" {
		s.errorPage(w, http.StatusForbidden, "Login refused", "GitHub said: "+e)
		return
	}
	login, err := s.githubLogin(r, q.Get("code"))
	if err != nil {
		s.logger().Warn("dashboard login", "err", err)
		s.errorPage(w, http.StatusBadGateway, "Login failed", "GitHub did not confirm who you are; try again.")
		return
	}
	exp := s.now().Add(sessionTTL)
	payload := base64.RawURLEncoding.EncodeToString([]byte(login + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + randomToken()))
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: payload + "." + s.sign(payload), Path: "/", Expires: exp,
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
	s.logger().Info("dashboard login", "login", login)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session (a POST with the session's CSRF token, so no
// other site can sign anyone out).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if sess := s.signedIn(r); !checkCSRF(r, sess) {
		s.errorPage(w, http.StatusForbidden, "Not signed out", "That request did not come from this dashboard's page.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// githubLogin is the web flow's last two steps: the code for a token, the
// token for the login.
func (s *Server) githubLogin(r *http.Request, code string) (string, error) {
	if code == "" {
		return "", errors.New("no code in the callback")
	}
	client := &http.Client{Timeout: 15 * time.Second}
	form := url.Values{"client_id": {s.Config.GitHub.ClientID}, "client_secret": {s.Config.GitHub.ClientSecret},
		"code": {code}, "redirect_uri": {s.callbackURL(r)}}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.githubWebURL()+githubTokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := doJSON(client, req, &tok); err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("access token: GitHub said %q", tok.Error)
	}
	apiURL := "https://api.github.com/"
	if s.Config.GitHub.APIURL != "" {
		apiURL = s.Config.GitHub.APIURL
	}
	req, err = http.NewRequestWithContext(r.Context(), http.MethodGet, strings.TrimSuffix(apiURL, "/")+"/user", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/vnd.github+json")
	var user struct {
		Login string `json:"login"`
	}
	if err := doJSON(client, req, &user); err != nil {
		return "", fmt.Errorf("GET /user: %w", err)
	}
	if user.Login == "" {
		return "", errors.New("GET /user: no login in the answer")
	}
	return user.Login, nil
}

func doJSON(client *http.Client, req *http.Request, v any) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
