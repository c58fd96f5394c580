package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/wait"
)

// Limits and timings of a Socket Mode connection.
const (
	// MaxAckBytes bounds an acknowledgement: Slack silently drops one of
	// 20 KB or more, so a slash command's reply is cut to stay below.
	MaxAckBytes = 20 * 1024
	// maxEnvelopeBytes bounds one message from Slack.
	maxEnvelopeBytes = 1 << 20
	// socketBufferBytes lets an acknowledgement go out as a single frame:
	// slack-go found that Slack does not reassemble continuation frames.
	socketBufferBytes = 32 << 10
	// socketPing is how often Hoist pings Slack; a connection that carries
	// no frame at all (message, ping or pong) for socketSilence is dead.
	socketPing    = 10 * time.Second
	socketSilence = 35 * time.Second
	// socketWrite bounds the sending of one frame.
	socketWrite = 5 * time.Second
	// socketOpen bounds apps.connections.open and the WebSocket handshake.
	socketOpen = 10 * time.Second
	// stableConnection is how long a connection must have lived for its
	// loss to be reconnected at once rather than after a backoff.
	stableConnection = 30 * time.Second
	// reconnectBase and reconnectMax bound the wait between failed
	// connection attempts: 1 s, 2 s, 4 s… up to two minutes, jittered.
	reconnectBase = time.Second
	reconnectMax  = 2 * time.Minute
)

// socketOpener is the slack-go call that asks Slack for a Socket Mode
// connection URL (apps.connections.open, with the app-level token);
// *slack.Client is one.
type socketOpener interface {
	StartSocketModeContext(ctx context.Context) (*slack.SocketModeConnection, string, error)
}

var _ socketOpener = (*slack.Client)(nil)

// SocketOptions tune a Socket; the zero value suits production.
type SocketOptions struct {
	// Wait pauses between connection attempts and returns ctx's error if
	// ctx ends first; nil waits on a real timer. Tests record the waits.
	Wait func(ctx context.Context, d time.Duration) error
	// ObserveAck, when set, is told of each acknowledgement: the kind of
	// request ("command", "interaction", "event"), its outcome ("ok",
	// "refused" for another team, "bad_request" for an unreadable
	// payload) and how long it took from arrival.
	ObserveAck func(kind, outcome string, d time.Duration)
}

// Socket brings Slack's requests to a Server over Socket Mode: a WebSocket
// that Hoist opens with the app-level token, so that Slack needs no public
// endpoint. Every envelope is acknowledged within Slack's 3 seconds; a
// slash command's acknowledgement carries its reply, as the HTTP answer
// does.
//
// slack-go's managed socketmode.Client is not used: it hides the reason
// of Slack's disconnect messages (Hoist backs off on too_many_websockets
// and link_disabled), reconnects at once after every loss, and cannot say
// whether it is connected. Socket uses slack-go's apps.connections.open
// call and its socketmode message types, over gorilla/websocket as
// slack-go does.
type Socket struct {
	api         socketOpener
	placeholder bool
	dialer      *websocket.Dialer
	wait        func(ctx context.Context, d time.Duration) error
	observe     func(kind, outcome string, d time.Duration)
	logger      *slog.Logger

	// closing counts connections still sending their last
	// acknowledgements; Run waits for them before it returns.
	closing sync.WaitGroup

	mu    sync.Mutex
	state error // nil while connected: why Hoist is not, otherwise
}

// NewSocket returns a Socket that connects with cfg.AppToken to
// cfg.APIURL. It makes no request until Run.
func NewSocket(cfg config.Slack, logger *slog.Logger, opts SocketOptions) *Socket {
	s := &Socket{
		api:         slack.New("", slack.OptionAppLevelToken(cfg.AppToken.Reveal()), slack.OptionAPIURL(cfg.APIURL)),
		placeholder: cfg.AppToken == config.PlaceholderAppToken,
		dialer: &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: socketOpen,
			WriteBufferSize:  socketBufferBytes,
		},
		wait:    opts.Wait,
		observe: opts.ObserveAck,
		logger:  logger.With("transport", "socket_mode"),
		state:   errors.New("not connected yet over Socket Mode"),
	}
	if s.wait == nil {
		s.wait = wait.Sleep
	}
	if s.observe == nil {
		s.observe = func(string, string, time.Duration) {}
	}
	if s.placeholder {
		s.state = errors.New("not connected: slack.app_token is the example's placeholder; set " + config.EnvVar("slack.app_token") + " to the app's xapp- token")
	}
	return s
}

// Ready returns nil while Hoist is connected to Slack, and otherwise an
// error that says why not, fit for /readyz.
func (s *Socket) Ready(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Socket) setState(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = err
}

// Run brings Slack's requests to front until ctx ends, reconnecting when
// Slack asks or the connection is lost, and then lets the last
// acknowledgements go out. It returns an error only when Slack refuses
// the app-level token, which no retry can fix. With the example's
// placeholder token it does not connect at all, and says so.
func (s *Socket) Run(ctx context.Context, front *Server) error {
	defer s.closing.Wait()
	if s.placeholder {
		s.logger.WarnContext(ctx, "slack.app_token holds the example's placeholder: Hoist does not connect to Slack until it is replaced",
			"key", "slack.app_token", "env", config.EnvVar("slack.app_token"))
		<-ctx.Done()
		return nil
	}
	failures := 0
	for {
		end := s.connect(ctx, front)
		if ctx.Err() != nil {
			s.setState(errors.New("not connected: Hoist is stopping"))
			return nil
		}
		if end.fatal {
			s.setState(fmt.Errorf("not connected: %w", end.err))
			s.logger.ErrorContext(ctx, "Slack refuses Hoist's Socket Mode connection", "problem", end.err.Error())
			return fmt.Errorf("slack socket mode: %w", end.err)
		}
		var pause time.Duration
		if end.now {
			failures = 0
			s.logger.InfoContext(ctx, "reconnecting to Slack", "reason", end.err.Error())
		} else {
			failures++
			pause = max(backoff(failures), end.atLeast)
			s.logger.WarnContext(ctx, "Socket Mode connection lost; reconnecting", "problem", end.err.Error(), "retry_in", pause.String(), "attempt", failures)
		}
		s.setState(fmt.Errorf("not connected: %w; reconnecting", end.err))
		if pause > 0 {
			if err := s.wait(ctx, pause); err != nil {
				return nil
			}
		}
	}
}

// backoff returns the wait after the given number of failures in a row:
// reconnectBase doubled each time, capped at reconnectMax, and jittered
// so that several replicas do not reconnect in step.
func backoff(failures int) time.Duration {
	d := min(reconnectBase<<min(failures-1, 16), reconnectMax)
	return d/2 + rand.N(d/2+1) //nolint:gosec // jitter needs no cryptographic randomness
}

// connEnd says how a connection ended, or why it never opened, and when
// to try the next.
type connEnd struct {
	err     error
	fatal   bool          // retrying cannot help
	now     bool          // reconnect at once: Slack asked, or a stable connection was lost
	atLeast time.Duration // wait at least this long (Slack's Retry-After, link_disabled)
}

// fatalOpenErrors are apps.connections.open errors that only a new token
// or a change in the app's settings can fix.
var fatalOpenErrors = map[string]string{ //nolint:gosec // Slack error codes, not credentials
	"invalid_auth":           "Slack does not know slack.app_token",
	"not_authed":             "slack.app_token is empty",
	"token_revoked":          "slack.app_token was revoked",
	"token_expired":          "slack.app_token has expired",
	"account_inactive":       "the app or workspace of slack.app_token is deactivated",
	"not_allowed_token_type": "slack.app_token is not an app-level token",
	"missing_scope":          "slack.app_token lacks the connections:write scope",
}

// connect opens one connection and serves it until it ends.
func (s *Socket) connect(ctx context.Context, front *Server) connEnd {
	octx, cancel := context.WithTimeout(ctx, socketOpen)
	_, wsURL, err := s.api.StartSocketModeContext(octx)
	cancel()
	if err != nil {
		return openFailed(err)
	}
	ws, resp, err := s.dialer.DialContext(ctx, wsURL, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		// The URL carries a one-time ticket: only its origin is shown.
		return connEnd{err: fmt.Errorf("open websocket to %s: %w", origin(wsURL), err)}
	}
	return s.serve(ctx, ws, front)
}

func openFailed(err error) connEnd {
	var limited *slack.RateLimitedError
	if errors.As(err, &limited) {
		return connEnd{err: fmt.Errorf("apps.connections.open: %w", err), atLeast: limited.RetryAfter}
	}
	var refused slack.SlackErrorResponse
	if errors.As(err, &refused) {
		if why, ok := fatalOpenErrors[refused.Err]; ok {
			return connEnd{fatal: true, err: fmt.Errorf("apps.connections.open: %s (%s): set %s to an app-level token (xapp-…) with the connections:write scope, from the app's Basic Information page",
				why, refused.Err, config.EnvVar("slack.app_token"))}
		}
	}
	return connEnd{err: fmt.Errorf("apps.connections.open: %w", err)}
}

// origin returns the scheme and host of a URL, without its path and query.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "an unreadable URL"
	}
	return u.Scheme + "://" + u.Host
}

// socketConn serialises writes on a connection: gorilla/websocket allows
// one writer at a time, and acknowledgements come from many goroutines.
type socketConn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (c *socketConn) send(data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(socketWrite)); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// serve reads envelopes from ws until the connection ends, handling each
// in its own goroutine so that a slow command never delays another's
// acknowledgement. Once it ends, the acknowledgements under way are sent
// before the connection is closed.
func (s *Socket) serve(ctx context.Context, ws *websocket.Conn, front *Server) connEnd {
	conn := &socketConn{ws: ws}
	opened := time.Now()
	greeted := false
	var inflight sync.WaitGroup
	done := make(chan struct{})
	defer func() {
		close(done)
		s.closing.Add(1)
		go func() {
			defer s.closing.Done()
			inflight.Wait()
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(socketWrite))
			_ = ws.Close()
		}()
	}()

	messages, lost := readMessages(ws, done)
	go pingEvery(ws, done)
	for {
		var data []byte
		select {
		case <-ctx.Done():
			return connEnd{err: ctx.Err()}
		case err := <-lost:
			return connEnd{err: fmt.Errorf("connection lost: %w", err), now: greeted && time.Since(opened) >= stableConnection}
		case data = <-messages:
		}
		received := time.Now()
		var req socketmode.Request
		if err := json.Unmarshal(data, &req); err != nil {
			s.logger.WarnContext(ctx, "ignored an unreadable Socket Mode message", "err", err)
			continue
		}
		switch req.Type {
		case socketmode.RequestTypeHello:
			greeted = true
			s.setState(nil)
			s.logger.InfoContext(ctx, "connected to Slack over Socket Mode", "connections", req.NumConnections, "slack_host", req.DebugInfo.Host)
		case socketmode.RequestTypeDisconnect:
			return disconnected(req.Reason)
		default:
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				s.handle(context.WithoutCancel(ctx), conn, front, req, received)
			}()
		}
	}
}

// readMessages reads ws in a goroutine, so that serve can stop waiting
// for Slack when Hoist stops. Any frame, pings and pongs included, shows
// that the connection is alive; socketSilence without one ends it.
func readMessages(ws *websocket.Conn, done <-chan struct{}) (<-chan []byte, <-chan error) {
	messages := make(chan []byte)
	lost := make(chan error, 1)
	alive := func() { _ = ws.SetReadDeadline(time.Now().Add(socketSilence)) }
	ws.SetReadLimit(maxEnvelopeBytes)
	ws.SetPingHandler(func(data string) error {
		alive()
		_ = ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(socketWrite))
		return nil
	})
	ws.SetPongHandler(func(string) error { alive(); return nil })
	go func() {
		for {
			alive()
			_, data, err := ws.ReadMessage()
			if err != nil {
				lost <- err
				return
			}
			select {
			case messages <- data:
			case <-done:
				return
			}
		}
	}()
	return messages, lost
}

// pingEvery pings Slack until done, so that a dead connection is noticed
// even when Slack has nothing to send.
func pingEvery(ws *websocket.Conn, done <-chan struct{}) {
	tick := time.NewTicker(socketPing)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			_ = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(socketWrite))
		}
	}
}

// disconnected says what to do after Slack's disconnect message.
func disconnected(reason string) connEnd {
	switch reason {
	case "warning", "refresh_requested":
		return connEnd{err: fmt.Errorf("%s: Slack asked Hoist to reconnect", reason), now: true}
	case "too_many_websockets":
		return connEnd{err: errors.New("too_many_websockets: Slack refuses more connections for this app; other Hoist processes, or leftover ones, hold them all")}
	case "link_disabled":
		return connEnd{err: errors.New("link_disabled: Socket Mode is turned off in the Slack app's settings; turn it on under Settings → Socket Mode"),
			atLeast: reconnectMax}
	default:
		return connEnd{err: fmt.Errorf("%s: Slack closed the connection", reason)}
	}
}

// Kinds and outcomes of acknowledged requests, as SocketOptions.ObserveAck
// is told of them.
const (
	kindCommand       = "command"
	kindInteraction   = "interaction"
	kindEvent         = "event"
	outcomeOK         = "ok"
	outcomeRefused    = "refused"
	outcomeBadRequest = "bad_request"
)

// handle answers one envelope, received at received, and acknowledges it.
// A slash command's reply travels in its acknowledgement; a click is
// acknowledged first and decided in the background.
func (s *Socket) handle(ctx context.Context, conn *socketConn, front *Server, req socketmode.Request, received time.Time) {
	id := newRequestID()
	logger := s.logger.With("request_id", id, "envelope_id", req.EnvelopeID, "envelope", req.Type)
	ack := func(kind, outcome string, data []byte) {
		if req.EnvelopeID == "" {
			return
		}
		if err := conn.send(data); err != nil {
			logger.WarnContext(ctx, "acknowledge envelope", "err", err)
			return
		}
		s.observe(kind, outcome, time.Since(received))
	}
	switch req.Type {
	case socketmode.RequestTypeSlashCommands:
		var cmd slack.SlashCommand
		if err := json.Unmarshal(req.Payload, &cmd); err != nil {
			logger.WarnContext(ctx, "ignored an unreadable slash command", "err", err)
			ack(kindCommand, outcomeBadRequest, emptyAck(req.EnvelopeID))
			return
		}
		reply, err := front.command(ctx, cmd, id, logger)
		if err != nil {
			ack(kindCommand, outcomeRefused, emptyAck(req.EnvelopeID))
			return
		}
		ack(kindCommand, outcomeOK, slashAck(req.EnvelopeID, reply))
	case socketmode.RequestTypeInteractive:
		var cb slack.InteractionCallback
		if err := json.Unmarshal(req.Payload, &cb); err != nil {
			logger.WarnContext(ctx, "ignored an unreadable interaction", "err", err)
			ack(kindInteraction, outcomeBadRequest, emptyAck(req.EnvelopeID))
			return
		}
		outcome := outcomeOK
		if !front.teamAllowed(cb.Team.ID) {
			outcome = outcomeRefused
		}
		ack(kindInteraction, outcome, emptyAck(req.EnvelopeID))
		_ = front.interaction(ctx, &cb, id, logger)
	case socketmode.RequestTypeEventsAPI:
		var event struct {
			TeamID string `json:"team_id"`
		}
		_ = json.Unmarshal(req.Payload, &event)
		outcome := outcomeOK
		if front.event(ctx, event.TeamID, logger) != nil {
			outcome = outcomeRefused
		}
		ack(kindEvent, outcome, emptyAck(req.EnvelopeID))
	default:
		if req.EnvelopeID != "" {
			_ = conn.send(emptyAck(req.EnvelopeID))
		}
		logger.DebugContext(ctx, "ignored a Socket Mode message of an unknown type")
	}
}

// ackJSON encodes an acknowledgement as it goes on the wire.
func ackJSON(envelopeID string, payload any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(socketmode.Response{EnvelopeID: envelopeID, Payload: payload})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func emptyAck(envelopeID string) []byte { return ackJSON(envelopeID, nil) }

// cutNote ends a reply cut to fit an acknowledgement.
const cutNote = "\n…\n_Hoist cut this reply here: the whole of it is more than Slack accepts at once._"

// slashAck acknowledges a slash command with its reply. A reply that
// would make the acknowledgement reach MaxAckBytes is cut cleanly: at the
// end of a line when one is near, never inside a <link> or <@mention>,
// with an open code block closed, and followed by a note saying so.
func slashAck(envelopeID string, reply release.Reply) []byte {
	resp := newSlashResponse(reply)
	if data := ackJSON(envelopeID, resp); len(data) < MaxAckBytes {
		return data
	}
	text := resp.Text
	fits := func(n int) bool {
		resp.Text = text[:n] + "\n```" + cutNote
		return len(ackJSON(envelopeID, resp)) < MaxAckBytes
	}
	// The longest prefix that fits with room for a closing fence and the
	// note, moved back to a rune boundary.
	lo, hi := 0, len(text)
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	for lo > 0 && !utf8.RuneStart(text[lo]) {
		lo--
	}
	resp.Text = cleanCut(text[:lo]) + cutNote
	return ackJSON(envelopeID, resp)
}

// cleanCut trims a prefix of a mrkdwn text so that it ends cleanly.
func cleanCut(prefix string) string {
	if nl := strings.LastIndexByte(prefix, '\n'); nl >= len(prefix)/2 {
		prefix = prefix[:nl]
	}
	if lt := strings.LastIndexByte(prefix, '<'); lt > strings.LastIndexByte(prefix, '>') {
		prefix = prefix[:lt]
	}
	if strings.Count(prefix, "```")%2 == 1 {
		prefix += "\n```"
	}
	return prefix
}
