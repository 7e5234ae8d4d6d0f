package githubemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// oauth is GitHub's web application flow for one OAuth client (a GitHub
// App's client id and secret): /login/oauth/authorize on the web host,
// /login/oauth/access_token there too, and GET /user with the token.
type oauth struct {
	mu           sync.Mutex
	clientID     string
	clientSecret string
	signedIn     string            // the login the browser is signed in to GitHub as
	codes        map[string]string // code → login, each good once
	tokens       map[string]string // user access token → login
}

// SetOAuthClient makes clientID/clientSecret the client the web flow
// accepts.
func (e *Emulator) SetOAuthClient(clientID, clientSecret string) {
	e.oauth.mu.Lock()
	defer e.oauth.mu.Unlock()
	e.oauth.clientID, e.oauth.clientSecret = clientID, clientSecret
}

// SignIn makes login the person signed in to GitHub in "the browser": the
// authorize page then grants at once, as GitHub does for a user who
// authorized the app before. An empty login signs out.
func (e *Emulator) SignIn(login string) {
	e.oauth.mu.Lock()
	defer e.oauth.mu.Unlock()
	e.oauth.signedIn = login
}

func (e *Emulator) oauthRoutes() {
	e.mux.HandleFunc("GET /login/oauth/authorize", e.oauthAuthorize)
	e.mux.HandleFunc("POST /login/oauth/access_token", e.oauthAccessToken)
	e.mux.HandleFunc("GET "+Prefix+"/user", e.oauthUser)
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// oauthAuthorize redirects to redirect_uri with a code and the state, as
// GitHub does once the user has granted the app.
func (e *Emulator) oauthAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o := &e.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.clientID == "" || q.Get("client_id") != o.clientID {
		http.Error(w, "404: no application with that client_id", http.StatusNotFound)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Scheme != "http" && back.Scheme != "https" {
		http.Error(w, "redirect_uri is not an absolute URL", http.StatusBadRequest)
		return
	}
	if o.signedIn == "" {
		http.Error(w, "Sign in to GitHub to continue to the application", http.StatusUnauthorized)
		return
	}
	code := randomHex()
	if o.codes == nil {
		o.codes = map[string]string{}
	}
	o.codes[code] = o.signedIn
	v := back.Query()
	v.Set("code", code)
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// oauthAccessToken trades a code for a user token. Like GitHub it answers
// 200 with an "error" field for a bad code or client, and answers JSON
// only when asked to (form encoding otherwise).
func (e *Emulator) oauthAccessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o := &e.oauth
	o.mu.Lock()
	answer := map[string]string{}
	login, ok := o.codes[r.PostForm.Get("code")]
	switch {
	case o.clientID == "" || r.PostForm.Get("client_id") != o.clientID || r.PostForm.Get("client_secret") != o.clientSecret:
		answer["error"] = "incorrect_client_credentials"
	case !ok:
		answer["error"] = "bad_verification_code"
	default:
		delete(o.codes, r.PostForm.Get("code"))
		token := "gho_" + randomHex()
		if o.tokens == nil {
			o.tokens = map[string]string{}
		}
		o.tokens[token] = login
		answer["access_token"], answer["token_type"], answer["scope"] = token, "bearer", ""
	}
	o.mu.Unlock()
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(answer)
		return
	}
	v := url.Values{}
	for k, s := range answer {
		v.Set(k, s)
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	_, _ = w.Write([]byte(v.Encode()))
}

// oauthUser is GET /user for a user token.
func (e *Emulator) oauthUser(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	token := strings.TrimPrefix(strings.TrimPrefix(auth, "Bearer "), "token ")
	e.oauth.mu.Lock()
	login, ok := e.oauth.tokens[token]
	e.oauth.mu.Unlock()
	if !ok || token == auth {
		e.write(w, r, apiError(http.StatusUnauthorized, "Bad credentials"))
		return
	}
	e.write(w, r, response{status: http.StatusOK, body: map[string]any{"login": login, "type": "User"}})
}
