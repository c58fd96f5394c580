// Package bot is Hoist's Slack side: it verifies and answers requests from
// Slack (slash commands, button clicks, events) and shows releases in
// Slack (Block Kit cards, threads, announcements, ephemeral replies).
package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/commands"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/logctx"
	"github.com/hoistbot/hoist/internal/release"
)

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

// errOtherTeam refuses a request from a workspace other than slack.team_id.
var errOtherTeam = errors.New("request from another workspace")

// Server is Hoist's front door for Slack. Requests reach it over HTTP
// (Handler) or over Socket Mode (Socket); past the transport, both are
// answered by the same code: the team and channel checks, parsing,
// dispatch, and the background runner that answers button clicks.
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

// NewServer builds the front door. ready reports whether Hoist can serve;
// it backs /readyz, which shows its error, so that error must say what is
// wrong without any secret.
func NewServer(cfg config.Slack, d Dispatcher, r Responder, ready func(context.Context) error, logger *slog.Logger) *Server {
	return &Server{cfg: cfg, dispatcher: d, responder: r, ready: ready, logger: logger,
		replySlot: make(chan struct{}, 16), replays: newReplayGuard(time.Now)}
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

func (s *Server) teamAllowed(team string) bool {
	return s.cfg.TeamID == "" || team == s.cfg.TeamID
}

// command answers a verified slash command with the reply Slack shows in
// its acknowledgement. It returns errOtherTeam, and no reply, for a
// command from another workspace.
func (s *Server) command(ctx context.Context, cmd slack.SlashCommand, requestID string, logger *slog.Logger) (release.Reply, error) {
	ctx = logctx.WithRequestID(ctx, requestID)
	logger = logger.With("user", cmd.UserID, "channel", cmd.ChannelID, "command", cmd.Command)
	if !s.teamAllowed(cmd.TeamID) {
		logger.WarnContext(ctx, "refused command from another team", "team", cmd.TeamID)
		return release.Reply{}, errOtherTeam
	}
	if len(s.cfg.AllowedChannels) > 0 && !slices.Contains(s.cfg.AllowedChannels, cmd.ChannelID) {
		return release.Reply{Text: "Hoist does not take commands in this channel. Use " + channelList(s.cfg.AllowedChannels) + "."}, nil
	}
	parsed := commands.ParseSlash(cmd.Command, cmd.Text)
	switch {
	case parsed.Ignore:
		return release.Reply{Text: fmt.Sprintf("Hoist does not know `%s`. Try `/hoist help`.", cmd.Command)}, nil
	case parsed.Command == nil:
		return release.Reply{Text: parsed.Reply}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ackBudget)
	defer cancel()
	reply, err := s.dispatcher.Handle(ctx, release.Request{
		User:        cmd.UserID,
		Channel:     cmd.ChannelID,
		ResponseURL: cmd.ResponseURL,
		Command:     *parsed.Command,
	})
	if err != nil {
		logger.ErrorContext(ctx, "handle command", "err", err)
		return apology(requestID), nil
	}
	return reply, nil
}

// interaction takes a verified interaction. Votes are decided in the
// background, after Slack has had its acknowledgement, and answered
// through the response URL. It returns errOtherTeam for an interaction
// from another workspace.
func (s *Server) interaction(ctx context.Context, cb *slack.InteractionCallback, requestID string, logger *slog.Logger) error {
	ctx = logctx.WithRequestID(ctx, requestID)
	logger = logger.With("user", cb.User.ID, "channel", cb.Channel.ID, "type", cb.Type)
	if !s.teamAllowed(cb.Team.ID) {
		logger.WarnContext(ctx, "refused interaction from another team", "team", cb.Team.ID)
		return errOtherTeam
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		return nil
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a.ActionID != ActionApprove && a.ActionID != ActionDeny {
			continue
		}
		approve := a.ActionID == ActionApprove
		id, err := release.ParseID(a.Value)
		if err != nil {
			logger.WarnContext(ctx, "refused click with a bad release id", "action", a.ActionID, "value", a.Value)
			continue
		}
		user, action := cb.User.ID, a.ActionID
		s.later(ctx, cb.ResponseURL, logger, func(ctx context.Context) release.Reply {
			reply, err := s.dispatcher.Vote(ctx, user, id, approve, "")
			if err != nil {
				logger.ErrorContext(ctx, "handle vote", "action", action, "release", id, "err", err)
				return apology(requestID)
			}
			return reply
		})
	}
	return nil
}

// event takes a verified Events API event. Hoist subscribes to none yet,
// so it only checks the team. It returns errOtherTeam for an event from
// another workspace.
func (s *Server) event(ctx context.Context, team string, logger *slog.Logger) error {
	if !s.teamAllowed(team) {
		logger.WarnContext(ctx, "refused event from another team", "team", team)
		return errOtherTeam
	}
	return nil
}

// later runs a click's work after Slack has had its acknowledgement (the
// vote may need to ask Slack who is in an admin group), and sends its
// answer as an ephemeral reply through the response URL. At most
// cap(replySlot) run at once; Drain waits for them. The work's context
// keeps the values of the request's (its request ID), not its deadline.
func (s *Server) later(ctx context.Context, responseURL string, logger *slog.Logger, work func(context.Context) release.Reply) {
	s.replies.Add(1)
	go func() {
		defer s.replies.Done()
		s.replySlot <- struct{}{}
		defer func() { <-s.replySlot }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
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
