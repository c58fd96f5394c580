package slackapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode, as Slack speaks it: apps.connections.open, called with the
// app-level token, answers a ws:// URL on the Server with a one-time
// ticket. A connection to it gets Slack's hello, then the envelopes a test
// sends (slash commands, interactions, events); the acknowledgements Hoist
// sends back are recorded as MethodSocketAck calls.

// Method names of the Socket Mode calls a Server records.
const (
	// MethodSocketConnect names each WebSocket connection opened with a
	// valid ticket.
	MethodSocketConnect = "socket_connect"
	// MethodSocketAck names each acknowledgement received; Params holds
	// its "envelope_id" and Body the message as received.
	MethodSocketAck = "socket_ack"
)

// MaxAckBytes is Slack's limit on an acknowledgement: one of this size or
// more is silently dropped.
const MaxAckBytes = 20 * 1024

// AppID is the app's ID, as Socket Mode's hello and payloads give it.
const AppID = "A0HOIST"

// WithAppToken sets the app-level token apps.connections.open accepts.
// The default is DefaultAppToken.
func WithAppToken(token string) Option {
	return func(s *Server) { s.appToken = token }
}

// WithSocketsRefused makes the first n Socket Mode connections get a
// disconnect message with reason too_many_websockets instead of hello, as
// Slack answers an app that holds too many connections.
func WithSocketsRefused(n int) Option {
	return func(s *Server) { s.sockets.refuse = n }
}

// Ack is an acknowledgement of an envelope.
type Ack struct {
	EnvelopeID string
	// Payload is the acknowledgement's payload, nil when it has none.
	Payload json.RawMessage
	// Size is the acknowledgement's size on the wire.
	Size int
	// Dropped is set when Size reaches MaxAckBytes: Slack ignores such an
	// acknowledgement, and the user sees the command fail.
	Dropped bool
}

// SlashReply decodes the reply a slash command's acknowledgement carries.
func (a Ack) SlashReply() (responseType, text string, err error) {
	var r struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if len(a.Payload) == 0 {
		return "", "", nil
	}
	if err := json.Unmarshal(a.Payload, &r); err != nil {
		return "", "", fmt.Errorf("decode acknowledgement payload: %w", err)
	}
	return r.ResponseType, r.Text, nil
}

// sockets is the Socket Mode side of a Server.
type sockets struct {
	mu      sync.Mutex
	tickets map[string]bool
	conns   []*simConn // open, oldest first
	refuse  int        // connections still to be refused with too_many_websockets
	waiters map[string]chan Ack
}

// simConn is one open WebSocket; writes are serialised.
type simConn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (c *simConn) write(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

func newSockets() *sockets {
	return &sockets{tickets: map[string]bool{}, waiters: map[string]chan Ack{}}
}

func (h *sockets) closeAll() {
	h.mu.Lock()
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.Close()
	}
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	x := hex.EncodeToString(b)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// appsConnectionsOpenLocked issues a ticket and its URL. s.mu must be held.
func (s *Server) appsConnectionsOpenLocked() reply {
	ticket := randomID()
	s.sockets.mu.Lock()
	s.sockets.tickets[ticket] = true
	s.sockets.mu.Unlock()
	base := "ws" + strings.TrimPrefix(s.srv.URL, "http")
	return okReply(reply{"url": base + "/link/?ticket=" + ticket + "&app_id=" + AppID})
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	h := s.sockets
	ticket := r.URL.Query().Get("ticket")
	h.mu.Lock()
	valid := h.tickets[ticket]
	delete(h.tickets, ticket)
	h.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.recordLocked(Call{Method: MethodSocketConnect, Params: map[string]string{}, Status: http.StatusSwitchingProtocols})
	s.mu.Unlock()

	conn := &simConn{ws: ws}
	h.mu.Lock()
	refused := h.refuse > 0
	if refused {
		h.refuse--
	} else {
		h.conns = append(h.conns, conn)
	}
	count := len(h.conns)
	h.mu.Unlock()
	if refused {
		_ = conn.write(map[string]any{"type": "disconnect", "reason": "too_many_websockets", "debug_info": map[string]any{"host": "applink-sim"}})
		_ = ws.Close()
		return
	}
	_ = conn.write(map[string]any{
		"type": "hello", "num_connections": count,
		"debug_info":      map[string]any{"host": "applink-sim", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": AppID},
	})
	s.readAcks(conn)
}

// readAcks records conn's acknowledgements until it closes. Reading also
// answers the client's pings.
func (s *Server) readAcks(conn *simConn) {
	h := s.sockets
	defer func() {
		h.mu.Lock()
		for i, c := range h.conns {
			if c == conn {
				h.conns = append(h.conns[:i], h.conns[i+1:]...)
				break
			}
		}
		h.mu.Unlock()
		_ = conn.ws.Close()
	}()
	for {
		_, data, err := conn.ws.ReadMessage()
		if err != nil {
			return
		}
		var msg struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			continue
		}
		ack := Ack{EnvelopeID: msg.EnvelopeID, Payload: msg.Payload, Size: len(data), Dropped: len(data) >= MaxAckBytes}
		s.mu.Lock()
		s.recordLocked(Call{Method: MethodSocketAck, Params: map[string]string{"envelope_id": msg.EnvelopeID}, Body: data, Status: http.StatusOK})
		s.mu.Unlock()
		h.mu.Lock()
		waiter, ok := h.waiters[msg.EnvelopeID]
		delete(h.waiters, msg.EnvelopeID)
		h.mu.Unlock()
		if ok {
			waiter <- ack
		}
	}
}

// ErrNoSocket is returned when an envelope is sent while no Socket Mode
// connection is open.
var ErrNoSocket = errors.New("no Socket Mode connection is open")

// SendEnvelope sends an envelope of kind ("slash_commands", "interactive",
// "events_api") with payload over the newest connection, as Slack does,
// and waits for its acknowledgement until ctx ends.
func (s *Server) SendEnvelope(ctx context.Context, kind string, payload json.RawMessage, acceptsResponsePayload bool) (Ack, error) {
	h := s.sockets
	id := randomID()
	got := make(chan Ack, 1)
	h.mu.Lock()
	if len(h.conns) == 0 {
		h.mu.Unlock()
		return Ack{}, ErrNoSocket
	}
	conn := h.conns[len(h.conns)-1]
	h.waiters[id] = got
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.waiters, id)
		h.mu.Unlock()
	}()
	envelope := map[string]any{"envelope_id": id, "payload": payload, "type": kind, "accepts_response_payload": acceptsResponsePayload}
	if kind == "events_api" {
		envelope["retry_attempt"], envelope["retry_reason"] = 0, ""
	}
	if err := conn.write(envelope); err != nil {
		return Ack{}, fmt.Errorf("send %s envelope: %w", kind, err)
	}
	select {
	case ack := <-got:
		return ack, nil
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("wait for the acknowledgement of %s envelope %s: %w", kind, id, ctx.Err())
	}
}

// SendSlashCommand sends a slash command (a payload such as
// slackreq.SlashCommand.JSON gives) and returns its acknowledgement.
func (s *Server) SendSlashCommand(ctx context.Context, payload json.RawMessage) (Ack, error) {
	return s.SendEnvelope(ctx, "slash_commands", payload, true)
}

// SendInteractive sends an interaction (a payload such as
// slackreq.BlockAction.JSON gives) and returns its acknowledgement.
func (s *Server) SendInteractive(ctx context.Context, payload json.RawMessage) (Ack, error) {
	return s.SendEnvelope(ctx, "interactive", payload, false)
}

// SendEvent wraps event in an event_callback from team, as the Events API
// delivers it, sends it and returns its acknowledgement.
func (s *Server) SendEvent(ctx context.Context, team string, event json.RawMessage) (Ack, error) {
	payload, err := json.Marshal(map[string]any{ //nolint:gosec // Slack's documented sample verification token
		"token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": team, "api_app_id": AppID, "event": event,
		"type": "event_callback", "event_id": "Ev" + strings.ToUpper(randomID()[:8]), "event_time": time.Now().Unix(),
		"authorizations":        []map[string]any{{"team_id": team, "user_id": BotUserID, "is_bot": true}},
		"is_ext_shared_channel": false, "event_context": "4-" + randomID(),
	})
	if err != nil {
		return Ack{}, fmt.Errorf("encode event: %w", err)
	}
	return s.SendEnvelope(ctx, "events_api", payload, false)
}

// Disconnect sends Slack's disconnect message, with reason
// ("refresh_requested", "warning", "link_disabled", "too_many_websockets"),
// on every open connection, and returns how many got it.
func (s *Server) Disconnect(reason string) int {
	conns := s.openSockets()
	for _, c := range conns {
		_ = c.write(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "applink-sim"}})
	}
	return len(conns)
}

// DropSockets closes every open connection without a word, as a network
// failure would, and returns how many there were.
func (s *Server) DropSockets() int {
	conns := s.openSockets()
	for _, c := range conns {
		_ = c.ws.UnderlyingConn().Close()
	}
	return len(conns)
}

// OpenSockets returns how many Socket Mode connections are open.
func (s *Server) OpenSockets() int { return len(s.openSockets()) }

func (s *Server) openSockets() []*simConn {
	s.sockets.mu.Lock()
	defer s.sockets.mu.Unlock()
	return append([]*simConn(nil), s.sockets.conns...)
}
