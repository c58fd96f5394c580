package bot

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/sim/slackreq"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

func TestVerifySignature(t *testing.T) {
	body := []byte("token=x&team_id=T1&command=%2Fhoist&text=status")
	now := time.Now()
	tests := []struct {
		name    string
		headers func() http.Header
		body    []byte
		secret  string
		ok      bool
	}{
		{name: "signed as Slack signs", headers: func() http.Header { return slackreq.Signer{Secret: testSecret}.Headers(body) }, body: body, secret: testSecret, ok: true},
		{name: "clock skew within five minutes", headers: func() http.Header {
			return slackreq.Signer{Secret: testSecret, Now: func() time.Time { return now.Add(-4 * time.Minute) }}.Headers(body)
		}, body: body, secret: testSecret, ok: true},
		{name: "unsigned", headers: func() http.Header { return http.Header{} }, body: body, secret: testSecret},
		{name: "tampered body", headers: func() http.Header { return slackreq.Signer{Secret: testSecret}.Headers(body) }, body: append([]byte("x"), body...), secret: testSecret},
		{name: "other secret", headers: func() http.Header { return slackreq.Signer{Secret: "other"}.Headers(body) }, body: body, secret: testSecret},
		{name: "stale", headers: func() http.Header {
			return slackreq.Signer{Secret: testSecret, Now: func() time.Time { return now.Add(-6 * time.Minute) }}.Headers(body)
		}, body: body, secret: testSecret},
		{name: "from the future", headers: func() http.Header {
			return slackreq.Signer{Secret: testSecret, Now: func() time.Time { return now.Add(6 * time.Minute) }}.Headers(body)
		}, body: body, secret: testSecret},
		{name: "empty secret never verifies", headers: func() http.Header { return slackreq.Signer{Secret: ""}.Headers(body) }, body: body, secret: ""},
		{name: "signature without v0 prefix", headers: func() http.Header {
			h := slackreq.Signer{Secret: testSecret}.Headers(body)
			h.Set("X-Slack-Signature", h.Get("X-Slack-Signature")[3:])
			return h
		}, body: body, secret: testSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifySignature(tt.headers(), tt.body, tt.secret)
			if (err == nil) != tt.ok {
				t.Fatalf("verifySignature = %v; want ok=%v", err, tt.ok)
			}
		})
	}
}

// FuzzVerifySignature checks that verification never panics and accepts a
// request only when its signature is the one the secret makes.
func FuzzVerifySignature(f *testing.F) {
	f.Add([]byte("token=x&text=status"), "v0=abc", "1700000000", false)
	f.Add([]byte(""), "", "", true)
	f.Add([]byte("payload=%7B%7D"), "v0=", "-1", true)
	f.Fuzz(func(t *testing.T, body []byte, signature, timestamp string, signProperly bool) {
		h := http.Header{}
		h.Set("X-Slack-Signature", signature)
		h.Set("X-Slack-Request-Timestamp", timestamp)
		if signProperly {
			h = slackreq.Signer{Secret: testSecret}.Headers(body)
		}
		err := verifySignature(h, body, testSecret)
		if signProperly && err != nil {
			t.Fatalf("a properly signed body was refused: %v", err)
		}
		if !signProperly && err == nil {
			ts, _ := strconv.ParseInt(timestamp, 10, 64)
			at := time.Unix(ts, 0)
			good := slackreq.Signer{Secret: testSecret, Now: func() time.Time { return at }}.Headers(body)
			if signature != good.Get("X-Slack-Signature") || time.Since(at).Abs() > 5*time.Minute {
				t.Fatalf("forged signature %q accepted", signature)
			}
		}
	})
}
