package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// Largest bodies read. Anyone on the internet can send a request, so
// every byte held before a signature is checked is a byte an attacker
// chooses; these are sized for what deploybot acts on, not for what the
// senders could send.
//
// Slack commands and block_actions payloads are short forms. GitHub caps
// its payloads at 25 MB, but the events deploybot acts on stay far below
// 1 MiB: the largest are issue_comment and pull_request, whose bodies
// GitHub limits to 65,536 characters each (a comment's payload carries the
// comment and the body: at most about 800 KB even with every
// character escaped); push is allowed 8 MiB, for its list of commits.
// Events deploybot does not act on are verified
// without being kept (see discardVerified), so their size costs no memory.
const (
	maxSlackBody  = 64 << 10
	maxGitHubBody = 1 << 20
	// maxPushBody is larger: a push's payload lists its commits (up to
	// 20, each with its files) besides the head commit.
	maxPushBody = 8 << 20
	// maxIgnoredBody bounds what is hashed of an event deploybot ignores:
	// GitHub's own cap.
	maxIgnoredBody = 25 << 20
)

// DefaultBodyBudget bounds the bytes of request bodies held at once by
// all intake routes together: 32 MiB is 32 of the largest GitHub bodies,
// or 512 Slack forms, far more than the bot acknowledges at once at its
// measured capacity (docs/benchmarks.md), and small next to the memory a
// replica needs anyway.
const DefaultBodyBudget = 32 << 20

// firstChunk is the largest buffer allocated before any byte is read.
const firstChunk = 16 << 10

// bodyBudget counts the bytes of request bodies held in memory; a request
// that would take it over its size is refused with 503 at once, so that
// no number of concurrent requests (slow or fast) can take memory beyond
// it.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

func (b *bodyBudget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) give(n int64) { b.used.Add(-n) }

// errOverBudget is a body refused because the bodies in flight hold the
// whole budget.
var errOverBudget = errors.New("body budget exhausted")

// readBody reads the whole body into memory charged to the server's
// budget, or answers the request itself (413 over max, 503 over the
// budget, 400 broken) and returns false. Signatures cover the raw bytes,
// so the body is read before parsing. The buffer grows with the bytes
// that really arrive — Content-Length is only the sender's claim, and
// allocating it up front let a client that announced 25 MB and sent one
// byte take 25 MB. The caller must call release once done with the body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, max int64) (body []byte, release func(), ok bool) {
	if r.ContentLength > max {
		tooLarge(w, max)
		return nil, nil, false
	}
	budget := s.bodyBudget()
	var held int64
	release = func() { budget.give(held); held = 0 }
	limited := http.MaxBytesReader(w, r.Body, max)
	size := int64(firstChunk)
	if n := r.ContentLength; n >= 0 && n < size {
		// A short announced body needs no more; a longer one grows as it
		// arrives.
		size = n + 1
	}
	for {
		if int64(len(body)) == int64(cap(body)) {
			grow := size
			if c := int64(cap(body)); c > 0 {
				grow = min(c, max+1-c) // doubling, up to max+1 to see an overflow
			}
			if grow <= 0 {
				release()
				tooLarge(w, max)
				return nil, nil, false
			}
			if !budget.take(grow) {
				release()
				s.logger().Warn("request refused", "reason", errOverBudget.Error(), "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("Connection", "close")
				w.Header().Set("Retry-After", "1")
				http.Error(w, "deploybot is busy: too many request bodies in flight; retry shortly", http.StatusServiceUnavailable)
				return nil, nil, false
			}
			held += grow
			next := make([]byte, len(body), int64(cap(body))+grow)
			copy(next, body)
			body = next
		}
		n, err := limited.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err == io.EOF {
			wholeBodyRead(w)
			break
		}
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			release()
			tooLarge(w, max)
			return nil, nil, false
		case err != nil:
			release()
			http.Error(w, "could not read request body", http.StatusBadRequest)
			return nil, nil, false
		}
	}
	return body, release, true
}

// githubBodyLimit is the largest body read of a GitHub event deploybot
// acts on.
func githubBodyLimit(event string) int64 {
	if event == "push" {
		return maxPushBody
	}
	return maxGitHubBody
}

// unread marks the answer to a request whose body has not been read:
// without it, an answer written before the body is read waits for the
// server to drain up to 256 KB of it, which a sender that stops sending
// makes forever. readBody and discardVerified lift it once they have read
// the whole body, so that the connection can be reused.
func unread(w http.ResponseWriter) { w.Header().Set("Connection", "close") }

func wholeBodyRead(w http.ResponseWriter) { w.Header().Del("Connection") }

func tooLarge(w http.ResponseWriter, max int64) {
	// MaxBytesReader has the server close the connection after this
	// reply only when w is the server's own writer; through middleware it
	// cannot, and the server would read up to 256 KB more of the body
	// before sending the reply.
	w.Header().Set("Connection", "close")
	http.Error(w, "request body too large: deploybot reads at most "+byteSize(max), http.StatusRequestEntityTooLarge)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// discardVerified reads a body deploybot will not act on through the HMAC
// of each secret without keeping it, and reports whether the signature
// matches one of them. Its memory is a copy buffer, whatever the size.
func discardVerified(w http.ResponseWriter, r *http.Request, signature string, secrets []string) (valid, ok bool) {
	want, err := hex.DecodeString(strings.TrimPrefix(signature, "sha256="))
	if err != nil || len(want) != sha256.Size {
		return false, true
	}
	writers := make([]io.Writer, len(secrets))
	macs := make([]interface{ Sum([]byte) []byte }, len(secrets))
	for i, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		writers[i], macs[i] = mac, mac
	}
	if r.ContentLength > maxIgnoredBody {
		tooLarge(w, maxIgnoredBody)
		return false, false
	}
	_, err = io.Copy(io.MultiWriter(writers...), http.MaxBytesReader(w, r.Body, maxIgnoredBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		tooLarge(w, maxIgnoredBody)
		return false, false
	case err != nil:
		http.Error(w, "could not read request body", http.StatusBadRequest)
		return false, false
	}
	wholeBodyRead(w)
	for _, mac := range macs {
		if hmac.Equal(mac.Sum(nil), want) {
			return true, true
		}
	}
	return false, true
}

// hasContentType reports whether r's body is of media type want. A request
// that declares no type is taken as want; one that declares another type
// (GitHub's form-encoded webhook setting, a JSON body sent to Slack's
// endpoint) would otherwise be read as the wrong thing.
func hasContentType(r *http.Request, want string) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" || ct == want {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == want
}
