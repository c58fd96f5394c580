package githubsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // X-Hub-Signature, which GitHub still sends beside the SHA-256 one
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// Delivery is one webhook delivery the Server made.
type Delivery struct {
	Event string
	ID    string
	Body  []byte
	// Status is the receiver's answer; 0 when it could not be reached
	// (Err says why).
	Status int
	Err    string
}

type webhook struct {
	url, secret string
	client      *http.Client
	seq         int
	deliveries  []Delivery
}

// WithWebhook makes the Server deliver events to url, signed with secret,
// as a repository webhook with content type application/json does.
func WithWebhook(url, secret string) Option {
	return func(s *Server) { s.hook = newWebhook(url, secret) }
}

// SetWebhook is WithWebhook for a running Server (when the receiver
// starts after it).
func (s *Server) SetWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = newWebhook(url, secret)
}

func newWebhook(url, secret string) *webhook {
	return &webhook{url: url, secret: secret, client: &http.Client{Timeout: 10 * time.Second}}
}

// Deliveries returns the webhook deliveries made so far, those still in
// flight excepted.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hook == nil {
		return nil
	}
	return slices.Clone(s.hook.deliveries)
}

// Sign returns the X-Hub-Signature-256 of body with secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func signSHA1(secret string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

// NewDelivery builds a webhook delivery as GitHub sends it: a JSON POST
// with the event's name, a delivery ID and both signatures (none when
// secret is empty).
func NewDelivery(ctx context.Context, url, event, id, secret string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("make delivery: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/sim")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	if secret != "" {
		req.Header.Set("X-Hub-Signature-256", Sign(secret, body))
		req.Header.Set("X-Hub-Signature", signSHA1(secret, body))
	}
	return req, nil
}

// DeleteEvent is the body of the "delete" event GitHub sends when branch
// of repository fullName is deleted.
func (s *Server) DeleteEvent(fullName, branch string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return mustJSON(deleteEvent(s, s.repo(fullName), branch))
}

// PullRequestEvent is the body of a "pull_request" event with action
// (e.g. "closed") for pull request number of repository fullName.
func (s *Server) PullRequestEvent(fullName string, number int, action string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	if number < 1 || number > len(r.pulls) {
		panic(fmt.Sprintf("githubsim: %s has no pull request #%d", fullName, number))
	}
	return mustJSON(pullRequestEvent(s, r, r.pulls[number-1], action))
}

func deleteEvent(s *Server, r *repo, branch string) map[string]any {
	return map[string]any{"ref": branch, "ref_type": "branch", "pusher_type": "user",
		"repository": s.renderRepo(r), "sender": s.renderUser(Login)}
}

func pullRequestEvent(s *Server, r *repo, p *pull, action string) map[string]any {
	return map[string]any{"action": action, "number": p.Number, "pull_request": s.renderPull(r, p, true),
		"repository": s.renderRepo(r), "sender": s.renderUser(Login)}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("githubsim: encode event: %v", err))
	}
	return b
}

// deliver sends an event to the webhook, if any, in the background. The
// Server's lock is held.
func (s *Server) deliver(event string, payload map[string]any) {
	h := s.hook
	if h == nil {
		return
	}
	h.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", h.seq)
	body := mustJSON(payload)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		d := Delivery{Event: event, ID: id, Body: body}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := NewDelivery(ctx, h.url, event, id, h.secret, body)
		if err == nil {
			var resp *http.Response
			if resp, err = h.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				d.Status = resp.StatusCode
			}
		}
		if err != nil {
			d.Err = err.Error()
		}
		s.mu.Lock()
		h.deliveries = append(h.deliveries, d)
		s.mu.Unlock()
	}()
}
