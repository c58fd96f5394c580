// Command floor is the least a durable acknowledgement of a Slack request
// costs: it verifies the request's signature with slack-go's
// SecretsVerifier, appends the body to a file, fsyncs the file, and answers
// 200. bench/ops runs it as its own process beside Hoist, under the same
// load, as the baseline of Hoist's acknowledgement latency; and its memory
// as that of a minimal Go HTTP server.
//
//	floor -listen 127.0.0.1:0 -secret SIGNING_SECRET -file requests.log
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/slack-go/slack"
)

// maxBody is the largest body accepted, as in Hoist's front door.
const maxBody = 64 << 10

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	secret := flag.String("secret", "", "Slack signing secret")
	file := flag.String("file", "requests.log", "file the request bodies are appended to")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *listen, *secret, *file, logger)
	stop()
	if err != nil {
		logger.Error("floor stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen, secret, path string, logger *slog.Logger) error {
	if secret == "" {
		return errors.New("-secret is required")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // the caller names the journal
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: &floor{secret: secret, journal: f}, ReadHeaderTimeout: 5 * time.Second}
	logger.Info("floor serving", "addr", ln.Addr().String())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// floor acknowledges a signed request once its body is on disk.
type floor struct {
	secret  string
	mu      sync.Mutex
	journal *os.File
}

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	if err := verify(r.Header, body, f.secret); err != nil {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	if err := f.append(body); err != nil {
		http.Error(w, "cannot store request", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func verify(h http.Header, body []byte, secret string) error {
	sv, err := slack.NewSecretsVerifier(h, secret)
	if err != nil {
		return fmt.Errorf("verify signature: %w", err)
	}
	if _, err := sv.Write(body); err != nil {
		return fmt.Errorf("verify signature: %w", err)
	}
	if err := sv.Ensure(); err != nil {
		return fmt.Errorf("verify signature: %w", err)
	}
	return nil
}

func (f *floor) append(body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.journal.Write(append(body, '\n')); err != nil {
		return fmt.Errorf("append request: %w", err)
	}
	if err := f.journal.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}
