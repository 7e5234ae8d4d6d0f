// Package registryemu is a container registry for the sandbox and the
// tests: go-containerregistry's in-memory OCI registry, optionally behind
// the two ways real registries ask for credentials — HTTP basic auth
// (a private registry of one's own) or a bearer token challenge whose
// token endpoint takes basic auth (Docker Hub, Quay, GHCR).
package registryemu

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Auth is how the registry asks for credentials.
type Auth int

const (
	Anonymous Auth = iota
	Basic          // 401 with WWW-Authenticate: Basic
	Token          // 401 with WWW-Authenticate: Bearer realm=…/token
)

// Registry is a running registry on loopback.
type Registry struct {
	srv        *httptest.Server
	auth       Auth
	user, pass string

	mu     sync.Mutex
	tokens map[string]bool
	// refused counts requests answered 401 after credentials were given.
	refused int
}

// Start serves a registry asking for user and pass in the auth way.
func Start(auth Auth, user, pass string) *Registry {
	r := &Registry{auth: auth, user: user, pass: pass, tokens: map[string]bool{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/token" {
			r.token(w, req)
			return
		}
		if !r.allowed(w, req) {
			return
		}
		reg.ServeHTTP(w, req)
	}))
	return r
}

// Host is host:port, the registry part of an image reference.
func (r *Registry) Host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// Close stops the server.
func (r *Registry) Close() { r.srv.Close() }

// Push uploads a small random image as repo:tag and returns its digest.
// Each push is a new image, so pushing a tag again moves it.
func (r *Registry) Push(repo, tag string) (string, error) {
	img, err := random.Image(256, 1)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(r.Host()+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return "", err
	}
	auth := authn.Anonymous
	if r.auth != Anonymous {
		auth = authn.FromConfig(authn.AuthConfig{Username: r.user, Password: r.pass})
	}
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// Refused returns how many requests that carried credentials were
// refused: a test's proof that wrong credentials were really sent.
func (r *Registry) Refused() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

func (r *Registry) allowed(w http.ResponseWriter, req *http.Request) bool {
	h := req.Header.Get("Authorization")
	switch r.auth {
	case Basic:
		if u, p, ok := req.BasicAuth(); ok && r.match(u, p) {
			return true
		}
		r.refuse(h)
		w.Header().Set("WWW-Authenticate", `Basic realm="registryemu"`)
	case Token:
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			r.mu.Lock()
			valid := r.tokens[tok]
			r.mu.Unlock()
			if valid {
				return true
			}
		}
		r.refuse(h)
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="registryemu"`, r.srv.URL+"/token"))
	default:
		return true
	}
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return false
}

// token is the token endpoint: basic credentials in, a bearer token out.
func (r *Registry) token(w http.ResponseWriter, req *http.Request) {
	u, p, ok := req.BasicAuth()
	if !ok || !r.match(u, p) {
		r.refuse(req.Header.Get("Authorization"))
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "bad credentials")
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	r.mu.Lock()
	r.tokens[tok] = true
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300})
}

func (r *Registry) match(u, p string) bool {
	return subtle.ConstantTimeCompare([]byte(u), []byte(r.user)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(r.pass)) == 1
}

func (r *Registry) refuse(authorization string) {
	if authorization == "" {
		return
	}
	r.mu.Lock()
	r.refused++
	r.mu.Unlock()
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
