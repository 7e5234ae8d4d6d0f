package ghclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/deploybot/deploybot/bot"
)

// Retry policy defaults: four tries a few seconds apart fit inside one
// request's 30 s client timeout, and a Retry-After longer than maxRetryWait
// is handed back as an error rather than slept through.
const (
	defaultAttempts  = 4
	defaultRetryBase = 500 * time.Millisecond
	maxRetryWait     = 10 * time.Second
)

// retryTransport retries what GitHub says may be retried: rate-limit
// answers (403 or 429 with Retry-After or an exhausted quota) for any
// request, since GitHub did not act on them, and 5xx answers and dropped
// connections only for requests that are safe to send twice.
//
// go-github detects rate limits (RateLimitError, AbuseRateLimitError) but
// never retries, and hashicorp/go-retryablehttp knows neither GitHub's 403
// rate limits nor which POSTs are safe to repeat, so the policy is here,
// below go-github, where it also covers ghinstallation's token requests.
type retryTransport struct {
	next     http.RoundTripper
	attempts int
	base     time.Duration
}

func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if attempt >= t.attempts {
			return resp, err
		}
		wait, again := t.decide(req, resp, err, attempt)
		if !again {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return resp, err
			}
			body, berr := req.GetBody()
			if berr != nil {
				return resp, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// decide says whether to send req again after resp or err, and when.
func (t retryTransport) decide(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	backoff := t.base << (attempt - 1)
	backoff = backoff/2 + rand.N(backoff/2+1) // jitter: replicas must not retry in step
	switch {
	case err != nil:
		return backoff, req.Context().Err() == nil && repeatable(req)
	case rateLimited(resp):
		wait, known := retryAfter(resp)
		if !known {
			wait = backoff
		}
		return wait, wait <= maxRetryWait
	case resp.StatusCode >= 500:
		if wait, known := retryAfter(resp); known {
			backoff = wait
		}
		return backoff, backoff <= maxRetryWait && repeatable(req)
	}
	return 0, false
}

// rateLimited recognises GitHub's primary and secondary rate limits.
func rateLimited(resp *http.Response) bool {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	return resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") == "0"
}

// retryAfter reads how long GitHub asks to wait: Retry-After in seconds,
// else the quota's reset time.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if v := resp.Header.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Until(time.Unix(reset, 0)), 0), true
		}
	}
	return 0, false
}

// repeatable reports whether sending req twice does no harm: reads and
// updates do not, and neither does a second deployment status, reaction
// (GitHub returns the existing one) or installation token. A second
// deployment or comment would be seen by people, so those are not.
func repeatable(req *http.Request) bool {
	if req.Method != http.MethodPost {
		return true
	}
	for _, suffix := range []string{"/statuses", "/reactions", "/access_tokens"} {
		if strings.HasSuffix(req.URL.Path, suffix) {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// wrapError turns err from a call doing what into an error for the
// person who asked: GitHub being down or rate-limiting deploybot is told as
// such (bot.EUNAVAILABLE), anything else stays internal.
func wrapError(err error, what string) error {
	var (
		primary   *github.RateLimitError
		secondary *github.AbuseRateLimitError
		resp      *github.ErrorResponse
	)
	switch {
	case errors.As(err, &primary):
		return bot.Errorf(bot.EUNAVAILABLE, "GitHub's API rate limit for deploybot is used up until %s UTC (%s)", primary.Rate.Reset.UTC().Format("15:04"), what)
	case errors.As(err, &secondary):
		after := "a while"
		if secondary.RetryAfter != nil {
			after = secondary.RetryAfter.Round(time.Second).String()
		}
		return bot.Errorf(bot.EUNAVAILABLE, "GitHub is rate-limiting deploybot; it asks to wait %s (%s)", after, what)
	case errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode >= 500:
		return bot.Errorf(bot.EUNAVAILABLE, "GitHub answered %s (%s)", resp.Response.Status, what)
	case isTransportError(err):
		return bot.Errorf(bot.EUNAVAILABLE, "GitHub did not answer (%s): %s", what, transportCause(err))
	}
	return fmt.Errorf("github: %s: %w", what, err)
}

// transportCause says why no answer came (a refused connection, a name
// that does not resolve, a timeout) without the request's URL, which the
// person already knows from what.
func transportCause(err error) string {
	var ue *url.Error
	switch {
	case errors.As(err, &ue):
		if ue.Timeout() {
			return "no answer in time"
		}
		return ue.Err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	}
	return err.Error()
}

// isTransportError reports a failure to get any answer: refused or dropped
// connections and timeouts, not an answer GitHub gave, nor one of ours.
func isTransportError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		// go-github returns the caller's expired context as it is.
		return true
	}
	var ue *url.Error
	if !errors.As(err, &ue) || errors.Is(err, context.Canceled) {
		return false
	}
	var netErr net.Error
	return ue.Timeout() || errors.As(ue.Err, &netErr) || errors.Is(ue.Err, io.EOF) || errors.Is(ue.Err, io.ErrUnexpectedEOF) || errors.Is(ue.Err, syscall.ECONNRESET)
}
