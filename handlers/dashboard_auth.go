package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/deploybot/deploybot/bot"
)

// Access control.

// protected lets a request through to h only with the dashboard's
// credentials: a bearer token, or basic auth for browsers. Without any
// configured, h is served only when config makes it public; otherwise
// every request is refused, since what it shows is not for strangers.
func (s *Server) protected(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c bot.DashboardConfig
		if s.Config != nil {
			c = s.Config.Dashboard
		}
		if c.Public {
			h.ServeHTTP(w, r)
			return
		}
		// A person signed in with GitHub may read what they may act on.
		if authorized(c, r) || s.signedIn(r) != nil {
			h.ServeHTTP(w, r)
			return
		}
		// Offering basic auth only when it is configured keeps a browser
		// from prompting for credentials that could never work.
		if c.Username != "" && c.Password != "" {
			w.Header().Add("WWW-Authenticate", `Basic realm="deploybot"`)
		}
		if c.Token != "" {
			w.Header().Add("WWW-Authenticate", `Bearer realm="deploybot"`)
		}
		w.Header().Set("Cache-Control", "no-store")
		msg := "authentication required"
		if !c.HasCredentials() {
			msg += ": this deploybot has no dashboard credentials (dashboard.token, or dashboard.username and password) and is not public (dashboard.public)"
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeJSON(w, http.StatusUnauthorized, errorJSON{Error: msg})
			return
		}
		http.Error(w, msg, http.StatusUnauthorized)
	})
}

// authorized reports whether r carries the configured token or basic-auth
// pair. Basic auth counts only when both halves are configured, so a
// half-configured pair locks everyone out rather than letting an empty
// password in.
func authorized(c bot.DashboardConfig, r *http.Request) bool {
	if c.Token != "" {
		auth := r.Header.Get("Authorization")
		if scheme, token, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") && secretEqual(strings.TrimSpace(token), c.Token) {
			return true
		}
	}
	if c.Username != "" && c.Password != "" {
		if user, pass, ok := r.BasicAuth(); ok {
			// Both compared, always, so timing tells nothing about which
			// half was wrong.
			userOK := secretEqual(user, c.Username)
			passOK := secretEqual(pass, c.Password)
			return userOK && passOK
		}
	}
	return false
}

// secretEqual compares digests in constant time, so neither the content
// nor the length of the secret leaks through timing.
func secretEqual(given, want string) bool {
	g, w := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
