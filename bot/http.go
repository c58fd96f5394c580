package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
)

// MaxBodyBytes is the largest request body Hoist reads from Slack.
const MaxBodyBytes = 64 << 10

// Handler routes Hoist's HTTP endpoints. In socket mode Slack's requests
// arrive over the Socket Mode connection, so /slack/* answers 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.cfg.Mode != "socket" {
		mux.Handle("POST /slack/commands", s.verified(s.handleCommand))
		mux.Handle("POST /slack/interactions", s.verified(s.handleInteraction))
		mux.Handle("POST /slack/events", s.verified(s.handleEvent))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.handleReady)
	return mux
}

// slackRequest is a verified request: its raw body and a logger carrying
// its request ID.
type slackRequest struct {
	body   []byte
	id     string
	logger *slog.Logger
}

type slackHandler func(w http.ResponseWriter, r *http.Request, req slackRequest)

// verified checks size and signature before anything else happens: an
// oversized body gets 413, a bad, stale or replayed signature 401.
func (s *Server) verified(next slackHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		logger := s.logger.With("request_id", id, "path", r.URL.Path)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			logger.WarnContext(r.Context(), "refused oversized request", "limit", MaxBodyBytes)
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "cannot read request body", http.StatusBadRequest)
			return
		}
		if err := verifySignature(r.Header, body, s.cfg.SigningSecret.Reveal()); err != nil {
			logger.WarnContext(r.Context(), "refused unverified request", "err", err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		if !s.replays.firstSight(r.Header.Get("X-Slack-Signature")) {
			logger.WarnContext(r.Context(), "refused replayed request")
			http.Error(w, "replayed request", http.StatusUnauthorized)
			return
		}
		next(w, r, slackRequest{body: body, id: id, logger: logger})
	})
}

// verifySignature checks Slack's v0 signature over the raw body and the
// timestamp's freshness, with slack-go's verifier.
func verifySignature(h http.Header, body []byte, secret string) error {
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

func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request, req slackRequest) {
	form, err := url.ParseQuery(string(req.body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	reply, err := s.command(r.Context(), slashFromForm(form), req.id, req.logger)
	if errors.Is(err, errOtherTeam) {
		http.Error(w, "unknown team", http.StatusForbidden)
		return
	}
	writeReply(w, reply)
}

// slashFromForm reads a slash command from the form Slack posts.
func slashFromForm(form url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID:      form.Get("team_id"),
		ChannelID:   form.Get("channel_id"),
		UserID:      form.Get("user_id"),
		Command:     form.Get("command"),
		Text:        form.Get("text"),
		ResponseURL: form.Get("response_url"),
	}
}

func (s *Server) handleInteraction(w http.ResponseWriter, r *http.Request, req slackRequest) {
	form, err := url.ParseQuery(string(req.body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	if errors.Is(s.interaction(r.Context(), &cb, req.id, req.logger), errOtherTeam) {
		http.Error(w, "unknown team", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusOK)
}

type eventEnvelope struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	TeamID    string `json:"team_id"`
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request, req slackRequest) {
	var env eventEnvelope
	if err := json.Unmarshal(req.body, &env); err != nil {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	if env.Type == "url_verification" {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, env.Challenge)
		return
	}
	if errors.Is(s.event(r.Context(), env.TeamID, req.logger), errOtherTeam) {
		http.Error(w, "unknown team", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleReady answers 200 when Hoist can serve, and otherwise 503 with
// the reason, e.g. "not ready: slack not connected: …".
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.logger.WarnContext(ctx, "not ready", "err", err)
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ready\n")
}

// slashResponse is the JSON body Slack shows in answer to a slash command.
type slashResponse struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func newSlashResponse(reply release.Reply) slashResponse {
	resp := slashResponse{ResponseType: slack.ResponseTypeEphemeral, Text: reply.Text}
	if reply.Public {
		resp.ResponseType = slack.ResponseTypeInChannel
	}
	return resp
}

func writeReply(w http.ResponseWriter, reply release.Reply) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(newSlashResponse(reply))
}
