package handlers

import (
	"errors"
	"io"
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
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "could not read request body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}
