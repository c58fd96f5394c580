package outbound

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hoistbot/hoist/internal/wait"
)

// RetryPolicy is how transient failures (connection refused or reset,
// timeouts, 5xx, 429) are retried: up to Attempts tries in all, waiting
// Base, 2×Base, 4×Base… between them, capped at Max and jittered, and never
// past the context's end.
type RetryPolicy struct {
	// Attempts is the number of tries, the first included; zero means the
	// client's default, and 1 means no retry.
	Attempts int
	// Base is the wait after the first failed try; zero means the client's
	// default.
	Base time.Duration
	// Max caps every backoff wait; zero means the client's default.
	Max time.Duration
	// Sleep waits for d or until ctx ends, returning ctx's error then; nil
	// means a real timer. Tests inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// WithDefaults returns p with its fields left at zero (or below) taken
// from defaults, Max raised to Base if it is below, and a real timer as
// Sleep if neither gives one.
func (p RetryPolicy) WithDefaults(defaults RetryPolicy) RetryPolicy {
	if p.Attempts < 1 {
		p.Attempts = defaults.Attempts
	}
	if p.Base <= 0 {
		p.Base = defaults.Base
	}
	if p.Max <= 0 {
		p.Max = defaults.Max
	}
	p.Max = max(p.Max, p.Base)
	if p.Sleep == nil {
		p.Sleep = defaults.Sleep
	}
	if p.Sleep == nil {
		p.Sleep = wait.Sleep
	}
	return p
}

// Backoff is the wait after the try-th failed try: Base doubled each try,
// capped at Max, with the upper half jittered; at least retryAfter (what
// the server asked for), within Max. p must have its defaults.
func (p RetryPolicy) Backoff(try int, retryAfter time.Duration) time.Duration {
	d := p.Base
	for i := 1; i < try && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	d = d/2 + rand.N(d/2+1) //nolint:gosec // jitter needs no cryptographic randomness
	return max(d, min(retryAfter, p.Max))
}

// RetryAfter reads a Retry-After header given in seconds; it is zero when
// the header is missing, not a number of seconds, or not positive.
func RetryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// Transient says whether a request's failure is worth retrying: connection
// refused, reset or aborted, unreachable hosts, timeouts (the request's
// own included), connections cut short and failed dials are; a bad
// certificate or an unknown host are not. The caller must check first
// whether its own context ended: that is not worth retrying either.
func Transient(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTimeout || dns.IsTemporary
	}
	for _, target := range []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT,
		io.ErrUnexpectedEOF, io.EOF,
		context.DeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
