package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
)

// Largest bodies accepted. Slack commands are a short form; GitHub caps
// webhook payloads at 25 MB, and the events deploybot acts on are a few KB.
const (
	maxSlackBody  = 64 << 10
	maxGitHubBody = 25 << 20
)

// readBody reads the whole body or answers 413 when it is longer than max;
// signatures cover the raw bytes, so the body is read before parsing.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	var body []byte
	var err error
	limited := http.MaxBytesReader(w, r.Body, max)
	if n := r.ContentLength; n > 0 && n <= max {
		// One allocation of the announced size instead of ReadAll's
		// doubling: webhook floods are mostly allocation.
		body = make([]byte, n)
		if _, err = io.ReadFull(limited, body); err == nil {
			// A body longer than announced is a broken request.
			var extra [1]byte
			if m, _ := limited.Read(extra[:]); m > 0 {
				err = errors.New("body longer than Content-Length")
			}
		}
	} else {
		body, err = io.ReadAll(limited)
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		// MaxBytesReader has the server close the connection after this
		// reply only when w is the server's own writer; through middleware
		// it cannot, and the server would read up to 256 KB more of the
		// body before sending the reply.
		w.Header().Set("Connection", "close")
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "could not read request body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
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
