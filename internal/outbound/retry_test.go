package outbound

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	sleep := func(context.Context, time.Duration) error { return nil }
	defaults := RetryPolicy{Attempts: 5, Base: 200 * time.Millisecond, Max: 5 * time.Second}
	for name, tc := range map[string]struct {
		p, want RetryPolicy
	}{
		"zero":           {RetryPolicy{}, defaults},
		"negative":       {RetryPolicy{Attempts: -1, Base: -time.Second, Max: -time.Second}, defaults},
		"set":            {RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: time.Second}, RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: time.Second}},
		"max below base": {RetryPolicy{Base: 10 * time.Second}, RetryPolicy{Attempts: 5, Base: 10 * time.Second, Max: 10 * time.Second}},
		"no retry":       {RetryPolicy{Attempts: 1}, RetryPolicy{Attempts: 1, Base: 200 * time.Millisecond, Max: 5 * time.Second}},
	} {
		t.Run(name, func(t *testing.T) {
			got := tc.p.WithDefaults(defaults)
			if got.Attempts != tc.want.Attempts || got.Base != tc.want.Base || got.Max != tc.want.Max {
				t.Errorf("WithDefaults = %+v; want %+v", got, tc.want)
			}
			if got.Sleep == nil {
				t.Error("no Sleep")
			}
		})
	}
	var slept time.Duration
	mine := RetryPolicy{Sleep: func(_ context.Context, d time.Duration) error { slept = d; return nil }}
	if err := mine.WithDefaults(RetryPolicy{Sleep: sleep}).Sleep(t.Context(), time.Hour); err != nil || slept != time.Hour {
		t.Errorf("the policy's own Sleep was not kept: slept %v, %v", slept, err)
	}
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{Base: 200 * time.Millisecond, Max: time.Second}
	for name, tc := range map[string]struct {
		try        int
		retryAfter time.Duration
		min, max   time.Duration
	}{
		"first try":                {1, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		"second try":               {2, 0, 200 * time.Millisecond, 400 * time.Millisecond},
		"third try":                {3, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		"capped":                   {4, 0, 500 * time.Millisecond, time.Second},
		"far past the cap":         {200, 0, 500 * time.Millisecond, time.Second},
		"Retry-After above":        {1, 700 * time.Millisecond, 700 * time.Millisecond, 700 * time.Millisecond},
		"Retry-After below":        {3, 10 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond},
		"Retry-After past the cap": {1, time.Hour, time.Second, time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			for range 100 {
				if d := p.Backoff(tc.try, tc.retryAfter); d < tc.min || d > tc.max {
					t.Fatalf("Backoff(%d, %v) = %v; want within [%v, %v]", tc.try, tc.retryAfter, d, tc.min, tc.max)
				}
			}
		})
	}
}

func TestBackoffIsJittered(t *testing.T) {
	p := RetryPolicy{Base: 200 * time.Millisecond, Max: time.Second}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[p.Backoff(3, 0)] = true
	}
	if len(seen) < 20 {
		t.Errorf("only %d distinct waits in 50: not jittered", len(seen))
	}
}

func TestRetryAfter(t *testing.T) {
	for value, want := range map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		" 30 ":                          30 * time.Second,
		"0":                             0,
		"-5":                            0,
		"1.5":                           0,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0,
	} {
		h := http.Header{}
		if value != "" {
			h.Set("Retry-After", value)
		}
		if got := RetryAfter(h); got != want {
			t.Errorf("RetryAfter(%q) = %v; want %v", value, got, want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestTransient(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("no route")}
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"connection refused":  {&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		"connection reset":    {&url.Error{Op: "Get", URL: "http://ci/", Err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}}, true},
		"connection aborted":  {syscall.ECONNABORTED, true},
		"broken pipe":         {fmt.Errorf("write: %w", syscall.EPIPE), true},
		"host unreachable":    {syscall.EHOSTUNREACH, true},
		"network unreachable": {syscall.ENETUNREACH, true},
		"timed out":           {syscall.ETIMEDOUT, true},
		"cut short":           {fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), true},
		"EOF":                 {&url.Error{Op: "Post", URL: "http://ci/", Err: io.EOF}, true},
		"request deadline":    {fmt.Errorf("get: %w", context.DeadlineExceeded), true},
		"net timeout":         {&url.Error{Op: "Get", URL: "http://ci/", Err: timeoutError{}}, true},
		"other dial failure":  {dial, true},
		"DNS timeout":         {&net.DNSError{Err: "timeout", Name: "ci", IsTimeout: true}, true},
		"DNS temporary":       {&net.DNSError{Err: "server misbehaving", Name: "ci", IsTemporary: true}, true},
		"unknown host":        {&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "ci", IsNotFound: true}}, false},
		"bad certificate":     {&url.Error{Op: "Get", URL: "https://ci/", Err: x509.UnknownAuthorityError{}}, false},
		"cancelled":           {context.Canceled, false},
		"other error":         {errors.New("json: cannot unmarshal"), false},
		"read failure":        {&net.OpError{Op: "read", Err: errors.New("weird")}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := Transient(tc.err); got != tc.want {
				t.Errorf("Transient(%v) = %v; want %v", tc.err, got, tc.want)
			}
		})
	}
}
