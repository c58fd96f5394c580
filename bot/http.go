// Package bot is Hoist's Slack side: it verifies and answers requests from
// Slack (slash commands, button clicks, events) and shows releases in
// Slack (Block Kit cards, threads, announcements, ephemeral replies).
package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/commands"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
)

// MaxBodyBytes is the largest request body Hoist reads from Slack.
const MaxBodyBytes = 64 << 10

// ackBudget is how long the request path may take before Slack's 3-second
// deadline; work that could take longer belongs to workers.
const ackBudget = 2500 * time.Millisecond

// Action IDs of the buttons on a release card.
const (
	ActionApprove = "hoist_approve"
	ActionDeny    = "hoist_deny"
)

// Dispatcher runs verified commands and votes; release.Service is one.
type Dispatcher interface {
	Handle(ctx context.Context, req release.Request) (release.Reply, error)
	Vote(ctx context.Context, user string, id release.ID, approve bool, reason string) (release.Reply, error)
}

// Responder sends ephemeral replies through a response URL, off the
// request path.
type Responder interface {
	Respond(ctx context.Context, responseURL, text string) error
}

// Server is Hoist's HTTP front door for Slack.
type Server struct {
	cfg        config.Slack
	dispatcher Dispatcher
	responder  Responder
	ready      func(context.Context) error
	logger     *slog.Logger

	replies   sync.WaitGroup
	replySlot chan struct{}
	replays   *replayGuard
}

// NewServer builds the front door. ready reports whether Hoist can serve
// (the store answers); it backs /readyz.
func NewServer(cfg config.Slack, d Dispatcher, r Responder, ready func(context.Context) error, logger *slog.Logger) *Server {
	return &Server{cfg: cfg, dispatcher: d, responder: r, ready: ready, logger: logger,
		replySlot: make(chan struct{}, 16), replays: newReplayGuard(time.Now)}
}

// Handler routes Hoist's HTTP endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /slack/commands", s.verified(s.handleCommand))
	mux.Handle("POST /slack/interactions", s.verified(s.handleInteraction))
	mux.Handle("POST /slack/events", s.verified(s.handleEvent))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.handleReady)
	return mux
}

// Drain waits for the replies still being sent, until ctx ends.
func (s *Server) Drain(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.replies.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
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

func (s *Server) teamAllowed(team string) bool {
	return s.cfg.TeamID == "" || team == s.cfg.TeamID
}

func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request, req slackRequest) {
	form, err := url.ParseQuery(string(req.body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	user, channel := form.Get("user_id"), form.Get("channel_id")
	logger := req.logger.With("user", user, "channel", channel, "command", form.Get("command"))
	if !s.teamAllowed(form.Get("team_id")) {
		logger.WarnContext(r.Context(), "refused command from another team", "team", form.Get("team_id"))
		http.Error(w, "unknown team", http.StatusForbidden)
		return
	}
	if len(s.cfg.AllowedChannels) > 0 && !slices.Contains(s.cfg.AllowedChannels, channel) {
		writeReply(w, release.Reply{Text: "Hoist does not take commands in this channel. Use " + channelList(s.cfg.AllowedChannels) + "."})
		return
	}
	parsed := commands.ParseSlash(form.Get("command"), form.Get("text"))
	switch {
	case parsed.Ignore:
		writeReply(w, release.Reply{Text: fmt.Sprintf("Hoist does not know `%s`. Try `/hoist help`.", form.Get("command"))})
		return
	case parsed.Command == nil:
		writeReply(w, release.Reply{Text: parsed.Reply})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ackBudget)
	defer cancel()
	reply, err := s.dispatcher.Handle(ctx, release.Request{
		User:        user,
		Channel:     channel,
		ResponseURL: form.Get("response_url"),
		Command:     *parsed.Command,
	})
	if err != nil {
		logger.ErrorContext(ctx, "handle command", "err", err)
		reply = apology(req.id)
	}
	writeReply(w, reply)
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
	logger := req.logger.With("user", cb.User.ID, "channel", cb.Channel.ID, "type", cb.Type)
	if !s.teamAllowed(cb.Team.ID) {
		logger.WarnContext(r.Context(), "refused interaction from another team", "team", cb.Team.ID)
		http.Error(w, "unknown team", http.StatusForbidden)
		return
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		w.WriteHeader(http.StatusOK)
		return
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a.ActionID != ActionApprove && a.ActionID != ActionDeny {
			continue
		}
		approve := a.ActionID == ActionApprove
		id, err := release.ParseID(a.Value)
		if err != nil {
			logger.WarnContext(r.Context(), "refused click with a bad release id", "action", a.ActionID, "value", a.Value)
			continue
		}
		s.later(cb.ResponseURL, logger, func(ctx context.Context) release.Reply {
			reply, err := s.dispatcher.Vote(ctx, cb.User.ID, id, approve, "")
			if err != nil {
				logger.ErrorContext(ctx, "handle vote", "action", a.ActionID, "release", id, "err", err)
				return apology(req.id)
			}
			return reply
		})
	}
	w.WriteHeader(http.StatusOK)
}

// later runs a click's work after Slack has had its acknowledgement (the
// vote may need to ask Slack who is in an admin group), and sends its
// answer as an ephemeral reply through the response URL. At most
// cap(replySlot) run at once; Drain waits for them.
func (s *Server) later(responseURL string, logger *slog.Logger, work func(context.Context) release.Reply) {
	s.replies.Add(1)
	go func() {
		defer s.replies.Done()
		s.replySlot <- struct{}{}
		defer func() { <-s.replySlot }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		reply := work(ctx)
		if responseURL == "" || reply.Text == "" {
			return
		}
		if err := s.responder.Respond(ctx, responseURL, reply.Text); err != nil {
			logger.WarnContext(ctx, "send reply", "err", err)
		}
	}()
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
	if !s.teamAllowed(env.TeamID) {
		req.logger.WarnContext(r.Context(), "refused event from another team", "team", env.TeamID)
		http.Error(w, "unknown team", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.logger.WarnContext(ctx, "not ready", "err", err)
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ready\n")
}

// slashResponse is the JSON body Slack shows in answer to a slash command.
type slashResponse struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func writeReply(w http.ResponseWriter, reply release.Reply) {
	resp := slashResponse{ResponseType: slack.ResponseTypeEphemeral, Text: reply.Text}
	if reply.Public {
		resp.ResponseType = slack.ResponseTypeInChannel
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func apology(requestID string) release.Reply {
	return release.Reply{Text: "Sorry, something went wrong on Hoist's side. Check `/hoist status` before trying again, and give your admin this request ID: `" + requestID + "`."}
}

func channelList(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "<#" + id + ">"
	}
	return strings.Join(out, ", ")
}

func newRequestID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
