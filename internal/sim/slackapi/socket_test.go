package slackapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

func TestAppsConnectionsOpen(t *testing.T) {
	s := slackapi.New()
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct{ token, want string }{
		{slackapi.DefaultToken, "not_allowed_token_type"},
		{"xapp-1-other", "invalid_auth"},
		{"", "not_authed"},
	} {
		_, _, err := slack.New("", slack.OptionAppLevelToken(tc.token), slack.OptionAPIURL(s.URL())).StartSocketModeContext(ctx)
		if err == nil || err.Error() != tc.want {
			t.Errorf("token %q: %v; want %s", tc.token, err, tc.want)
		}
	}

	_, wsURL, err := slack.New("", slack.OptionAppLevelToken(slackapi.DefaultAppToken), slack.OptionAPIURL(s.URL())).StartSocketModeContext(ctx)
	if err != nil || !strings.HasPrefix(wsURL, "ws://127.0.0.1:") || !strings.Contains(wsURL, "ticket=") {
		t.Fatalf("open: %q, %v", wsURL, err)
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var hello map[string]any
	if err := ws.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
		t.Fatalf("first message: %v, %v", hello, err)
	}
	if _, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a ticket used twice was accepted: %v", err)
	}
}
