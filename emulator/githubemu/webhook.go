package githubemu

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/google/uuid"
)

// Delivery is one webhook the emulator sent, or tried to send.
type Delivery struct {
	ID         string // X-GitHub-Delivery
	Event      string // X-GitHub-Event
	Payload    []byte
	StatusCode int    // 0 when the request failed
	Err        string // why the request failed, "" otherwise
}

// outgoing is a webhook decided while holding the lock, with the target
// captured then so that a later SetWebhook does not redirect it.
type outgoing struct {
	url, secret, event string
	payload            []byte
}

// SetWebhook makes the emulator send webhooks to url, signed with secret.
// An empty url stops them.
func (e *Emulator) SetWebhook(url, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hookURL, e.hookSecret = url, secret
}

// SendWebhook signs payload and sends it as event to the webhook URL and
// waits for the answer; it fails on a transport error or a non-2xx status.
func (e *Emulator) SendWebhook(event string, payload []byte) error {
	_, err := e.sendWebhook(event, payload)
	return err
}

func (e *Emulator) sendWebhook(event string, payload []byte) (Delivery, error) {
	e.mu.Lock()
	url, secret := e.hookURL, e.hookSecret
	e.mu.Unlock()
	if url == "" {
		return Delivery{}, fmt.Errorf("githubemu: send %s webhook: no webhook URL set", event)
	}
	d := e.deliver(&outgoing{url: url, secret: secret, event: event, payload: payload})
	if d.Err != "" {
		return d, fmt.Errorf("githubemu: send %s webhook: %s", event, d.Err)
	}
	if d.StatusCode/100 != 2 {
		return d, fmt.Errorf("githubemu: send %s webhook: status %d", event, d.StatusCode)
	}
	return d, nil
}

// Redeliver sends delivery id again, as GitHub's "Redeliver" button does:
// the same event, payload and X-GitHub-Delivery. It fails as SendWebhook
// does.
func (e *Emulator) Redeliver(id string) error {
	e.mu.Lock()
	url, secret := e.hookURL, e.hookSecret
	var found *Delivery
	for i := range e.deliveries {
		if e.deliveries[i].ID == id {
			found = &e.deliveries[i]
		}
	}
	e.mu.Unlock()
	if found == nil {
		return fmt.Errorf("githubemu: redeliver %s: no such delivery", id)
	}
	if url == "" {
		return fmt.Errorf("githubemu: redeliver %s: no webhook URL set", id)
	}
	d := e.deliverAs(id, &outgoing{url: url, secret: secret, event: found.Event, payload: found.Payload})
	if d.Err != "" {
		return fmt.Errorf("githubemu: redeliver %s: %s", id, d.Err)
	}
	if d.StatusCode/100 != 2 {
		return fmt.Errorf("githubemu: redeliver %s: status %d", id, d.StatusCode)
	}
	return nil
}

// WaitWebhooks waits until every webhook triggered by an API call that has
// already returned has been delivered or has failed.
func (e *Emulator) WaitWebhooks() { e.hooks.Wait() }

// Deliveries returns the webhooks sent so far, in the order they finished.
func (e *Emulator) Deliveries() []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Delivery(nil), e.deliveries...)
}

// newOutgoing must be called with e.mu held.
func (e *Emulator) newOutgoing(event string, payload any) *outgoing {
	body, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("githubemu: marshal %s webhook: %v", event, err))
	}
	return &outgoing{url: e.hookURL, secret: e.hookSecret, event: event, payload: body}
}

// sendAsync delivers o in the background, as GitHub does: the API call
// that caused it does not wait, and deliveries may arrive in any order.
func (e *Emulator) sendAsync(o *outgoing) {
	e.hooks.Add(1)
	go func() {
		defer e.hooks.Done()
		e.deliver(o)
	}()
}

func (e *Emulator) deliver(o *outgoing) Delivery { return e.deliverAs(uuid.NewString(), o) }

func (e *Emulator) deliverAs(id string, o *outgoing) Delivery {
	d := Delivery{ID: id, Event: o.event, Payload: o.payload}
	req, err := http.NewRequest(http.MethodPost, o.url, bytes.NewReader(o.payload))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "GitHub-Hookshot/githubemu")
		req.Header.Set("X-GitHub-Event", o.event)
		req.Header.Set("X-GitHub-Delivery", d.ID)
		req.Header.Set("X-Hub-Signature-256", Signature256(o.secret, o.payload))
		// GitHub still sends the SHA-1 signature; receivers must ignore it.
		mac := hmac.New(sha1.New, []byte(o.secret))
		mac.Write(o.payload)
		req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
		var resp *http.Response
		resp, err = e.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			d.StatusCode = resp.StatusCode
		}
	}
	if err != nil {
		d.Err = err.Error()
	}
	e.mu.Lock()
	e.deliveries = append(e.deliveries, d)
	e.mu.Unlock()
	return d
}

// Signature256 returns the X-Hub-Signature-256 header GitHub sends for
// payload signed with secret.
func Signature256(secret string, payload []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(payload)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
