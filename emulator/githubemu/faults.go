package githubemu

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/emulator/faults"
)

// Inject adds a fault; calls it answers are still recorded in Calls, as
// GitHub counts them too.
func (e *Emulator) Inject(r faults.Rule) { e.faults.Add(r) }

// ClearFaults makes the emulator behave again.
func (e *Emulator) ClearFaults() { e.faults.Clear() }

// Route matches requests by method ("" for any) and a path.Match pattern
// over the path below Prefix, e.g. "/repos/*/*/deployments/*/statuses".
func Route(method, pattern string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		ok, _ := path.Match(pattern, strings.TrimPrefix(r.URL.Path, Prefix))
		return ok && (method == "" || r.Method == method)
	}
}

// ServerError answers as GitHub's front end does when the API behind it
// fails: the status with a short JSON message.
func ServerError(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":%q}`, http.StatusText(status))
	}
}

// SecondaryRateLimit answers as GitHub does when a client sends too much
// too fast: 403, Retry-After in whole seconds, and the documentation URL
// go-github recognises as a secondary rate limit.
func SecondaryRateLimit(retryAfter time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
	}
}

// PrimaryRateLimit answers as GitHub does when the hourly quota is spent:
// 403 with X-RateLimit-Remaining 0 and the reset time.
func PrimaryRateLimit(reset time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"API rate limit exceeded for installation ID 4242.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
	}
}

// LoseAnswer acts on the request, then answers status instead of the
// result, as a gateway timing out after the backend committed does.
func (e *Emulator) LoseAnswer(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mux.ServeHTTP(httptest.NewRecorder(), r)
		ServerError(status)(w, r)
	}
}
