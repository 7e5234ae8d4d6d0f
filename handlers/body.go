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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
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
