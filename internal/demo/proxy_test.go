package demo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/slack-go/slack"
)

// fakeHoist is an app endpoint that checks every request as Hoist does,
// with slack-go's verifier, and keeps the ones that pass.
type fakeHoist struct {
	secret   string
	answer   string
	commands []url.Values
	clicks   []slack.InteractionCallback
	refused  int
}

func (f *fakeHoist) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sv, err := slack.NewSecretsVerifier(r.Header, f.secret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		f.refused++
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	form, _ := url.ParseQuery(string(body))
	switch r.URL.Path {
	case "/slack/commands":
		f.commands = append(f.commands, form)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, f.answer)
	case "/slack/interactions":
		var cb slack.InteractionCallback
		if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		f.clicks = append(f.clicks, cb)
	}
}

func TestProxySignsCommandsAsSlackDoes(t *testing.T) {
	hoist := &fakeHoist{secret: "the-signing-secret", answer: `{"response_type":"ephemeral","text":"Release #1 requested"}`}
	srv := httptest.NewServer(hoist)
	defer srv.Close()
	p := newProxy(srv.URL, "the-signing-secret")
	dave, _ := personByID(DeveloperID)
	deploys, _ := channelByID(DeploysID)

	reply, err := p.command(context.Background(), dave, deploys, "/deploy", "demo master", "http://127.0.0.1:1/response/r1")
	if err != nil {
		t.Fatal(err)
	}
	if reply.Text != "Release #1 requested" || reply.ResponseType != "ephemeral" {
		t.Errorf("reply = %+v", reply)
	}
	if len(hoist.commands) != 1 {
		t.Fatalf("hoist accepted %d commands, refused %d", len(hoist.commands), hoist.refused)
	}
	got := hoist.commands[0]
	for key, want := range map[string]string{
		"command": "/deploy", "text": "demo master", "user_id": DeveloperID, "user_name": "dave",
		"channel_id": DeploysID, "channel_name": "deploys", "team_id": "T0HOIST00", "response_url": "http://127.0.0.1:1/response/r1",
	} {
		if got.Get(key) != want {
			t.Errorf("%s = %q; want %q", key, got.Get(key), want)
		}
	}
}

func TestProxySignsClicksAsSlackDoes(t *testing.T) {
	hoist := &fakeHoist{secret: "the-signing-secret"}
	srv := httptest.NewServer(hoist)
	defer srv.Close()
	p := newProxy(srv.URL, "the-signing-secret")
	ana, _ := personByID(AdminID)
	deploys, _ := channelByID(DeploysID)

	b := button{ActionID: "hoist_approve", BlockID: "release_3_actions", Value: "3"}
	if err := p.click(context.Background(), ana, deploys, "1700000000.000100", b, "http://127.0.0.1:1/response/r2"); err != nil {
		t.Fatal(err)
	}
	if len(hoist.clicks) != 1 {
		t.Fatalf("hoist accepted %d clicks, refused %d", len(hoist.clicks), hoist.refused)
	}
	cb := hoist.clicks[0]
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != AdminID || cb.Team.ID != "T0HOIST00" || cb.Channel.ID != DeploysID ||
		cb.ResponseURL != "http://127.0.0.1:1/response/r2" || cb.Container.MessageTs != "1700000000.000100" {
		t.Errorf("click = %+v", cb)
	}
	actions := cb.ActionCallback.BlockActions
	if len(actions) != 1 || actions[0].ActionID != "hoist_approve" || actions[0].Value != "3" || actions[0].BlockID != "release_3_actions" {
		t.Errorf("actions = %+v", actions)
	}
}

func TestProxyReportsWhatSlackWould(t *testing.T) {
	hoist := &fakeHoist{secret: "another-secret"}
	srv := httptest.NewServer(hoist)
	p := newProxy(srv.URL, "the-signing-secret")
	dave, _ := personByID(DeveloperID)
	deploys, _ := channelByID(DeploysID)

	_, err := p.command(context.Background(), dave, deploys, "/hoist", "help", "")
	var se *errSlack
	if !errors.As(err, &se) || se.code != "http_service_error" || hoist.refused != 1 {
		t.Errorf("a request Hoist refused gave %v (refused %d)", err, hoist.refused)
	}
	srv.Close()
	_, err = p.command(context.Background(), dave, deploys, "/hoist", "help", "")
	if !errors.As(err, &se) || se.code != "dispatch_failed" {
		t.Errorf("a request Hoist never got gave %v", err)
	}
}
