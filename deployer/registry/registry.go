// Package registry finds deploybot's images in any registry speaking the
// OCI distribution API (Quay, Docker Hub, GHCR, a registry of one's own),
// answering its basic or token auth challenge with the configured
// credentials.
package registry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/deploybot/deploybot/bot"
)

// defaultTimeout bounds one Resolve, retries included.
const defaultTimeout = time.Minute

// Images implements bot.Images with the OCI distribution API.
type Images struct {
	registries map[string]*bot.RegistryConfig
	transport  http.RoundTripper
	timeout    time.Duration
}

var _ bot.Images = (*Images)(nil)

// Option tunes Images.
type Option func(*Images)

// WithTransport sends the registry requests through t (metrics, tests).
func WithTransport(t http.RoundTripper) Option {
	return func(im *Images) { im.transport = t }
}

// WithTimeout bounds each Resolve, retries included (default: a minute).
func WithTimeout(d time.Duration) Option {
	return func(im *Images) { im.timeout = d }
}

// New returns Images signing in to each registry of registries (keyed by
// host) with its credentials, and to any other anonymously.
func New(registries map[string]*bot.RegistryConfig, opts ...Option) *Images {
	im := &Images{registries: registries, transport: remote.DefaultTransport, timeout: defaultTimeout}
	for _, o := range opts {
		o(im)
	}
	return im
}

// Resolve returns the digest of image:tag from the manifest's
// Docker-Content-Digest. The environment plays no part: registry
// credentials are the bot's, not the AWS account's.
func (im *Images) Resolve(ctx context.Context, image, tag string, _ *bot.Environment) (string, error) {
	host, _, err := bot.ParseImage(image)
	if err != nil {
		return "", bot.Errorf(bot.EINVALID, "image %s: %v", image, err)
	}
	cfg := im.registries[host]
	var nameOpts []name.Option
	if bot.IsLoopbackRegistry(host) || cfg != nil && cfg.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	ref, err := name.NewTag(image+":"+tag, nameOpts...)
	if err != nil {
		return "", bot.Errorf(bot.EINVALID, "image %s:%s: %v", image, tag, err)
	}
	// The pipeline's context has no deadline before the rollout; a
	// registry that accepts the connection and never answers must not
	// hold the deployment forever.
	askCtx, cancel := context.WithTimeout(ctx, im.timeout)
	defer cancel()
	opts := []remote.Option{
		remote.WithContext(askCtx),
		remote.WithTransport(im.transport),
		remote.WithAuthFromKeychain(keychain{im.registries}),
	}
	desc, err := remote.Head(ref, opts...)
	if err != nil && !isRegistryAnswer(err) {
		// Some registries answer HEAD without Docker-Content-Digest (or
		// without Content-Length); the manifest itself gives the digest.
		var full *remote.Descriptor
		if full, err = remote.Get(ref, opts...); err == nil {
			return full.Digest.String(), nil
		}
	}
	if err != nil {
		return "", im.explain(ctx, err, image, tag, host)
	}
	return desc.Digest.String(), nil
}

// keychain answers a registry's challenge with the configured
// credentials of its host; go-containerregistry's transport does the
// rest (basic auth, or a bearer token fetched from the realm it names).
type keychain struct {
	registries map[string]*bot.RegistryConfig
}

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	cfg := k.registries[r.RegistryStr()]
	if cfg == nil && r.RegistryStr() == name.DefaultRegistry {
		// docker.io/acme/api is spoken to as index.docker.io.
		cfg = k.registries["docker.io"]
	}
	if cfg == nil || cfg.Username == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: cfg.Username, Password: cfg.Password}), nil
}

// isRegistryAnswer reports whether err is the registry's own HTTP answer
// (missing, refused, broken), which asking again with GET would not change.
func isRegistryAnswer(err error) bool {
	var te *transport.Error
	return errors.As(err, &te)
}

// explain turns err into the bot's vocabulary: a missing tag names the
// tag, refused credentials name the registry. Neither message carries the
// registry's own text, which may echo a token.
func (im *Images) explain(ctx context.Context, err error, image, tag, host string) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound:
			return bot.Errorf(bot.ENOTFOUND, "image %s:%s not found: registry %s has no tag %s", image, tag, host, tag)
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return bot.Errorf(bot.EFORBIDDEN, "registry %s refused deploybot's credentials (HTTP %d) for %s:%s; check registries.%s in the config", host, te.StatusCode, image, tag, host)
		case te.StatusCode == http.StatusTooManyRequests || te.StatusCode >= 500:
			return bot.Errorf(bot.EUNAVAILABLE, "registry %s did not answer for %s:%s (HTTP %d)", host, image, tag, te.StatusCode)
		}
		return bot.Errorf(bot.EINTERNAL, "registry %s answered HTTP %d for %s:%s", host, te.StatusCode, image, tag)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return bot.Errorf(bot.EUNAVAILABLE, "registry %s did not answer for %s:%s within %s", host, image, tag, im.timeout)
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) {
		return bot.Errorf(bot.EUNAVAILABLE, "registry %s did not answer for %s:%s: %s", host, image, tag, redact(err))
	}
	return bot.Errorf(bot.EINTERNAL, "registry %s for %s:%s: %s", host, image, tag, redact(err))
}

// redact keeps the part of a transport error before any URL query, where
// a token exchange may carry credentials.
func redact(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i] + "?…"
	}
	return s
}
