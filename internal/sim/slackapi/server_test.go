package slackapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

const (
	public    = "C0PUBLIC1"
	outside   = "C0OUTSIDE"
	private   = "C0PRIVATE"
	secret    = "C0SECRET1"
	archived  = "C0ARCHIVE"
	adminsGrp = "S0ADMINS1"
)

func newServer(t *testing.T, opts ...slackapi.Option) (*slackapi.Server, *slack.Client) {
	t.Helper()
	opts = append([]slackapi.Option{
		slackapi.WithChannel(public, "deploys", false, true),
		slackapi.WithChannel(outside, "random", false, false),
		slackapi.WithChannel(private, "ops", true, true),
		slackapi.WithChannel(secret, "secret", true, false),
		slackapi.WithChannel(archived, "old", false, true),
		slackapi.WithUserGroup(adminsGrp, "UADMIN1", "UADMIN2"),
	}, opts...)
	s := slackapi.New(opts...)
	t.Cleanup(s.Close)
	s.ArchiveChannel(archived)
	return s, slack.New(slackapi.DefaultToken, slack.OptionAPIURL(s.URL()))
}

func slackError(t *testing.T, err error) string {
	t.Helper()
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a slack.SlackErrorResponse", err, err)
	}
	return se.Err
}

func TestURLEndsInSlashOnLoopback(t *testing.T) {
	s, _ := newServer(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/") {
		t.Errorf("URL() = %q, want http://127.0.0.1:PORT/.../", s.URL())
	}
}

func TestAuthTest(t *testing.T) {
	s, api := newServer(t)
	ctx := t.Context()
	got, err := api.AuthTestContext(ctx)
	if err != nil {
		t.Fatalf("auth.test: %v", err)
	}
	if got.UserID != slackapi.BotUserID || got.TeamID != slackapi.TeamID || got.BotID != slackapi.BotID {
		t.Errorf("auth.test = %+v", got)
	}

	bad := slack.New("xoxb-wrong", slack.OptionAPIURL(s.URL()))
	if _, err := bad.AuthTestContext(ctx); slackError(t, err) != "invalid_auth" {
		t.Errorf("wrong token: %v, want invalid_auth", err)
	}
	if _, _, err := bad.PostMessageContext(ctx, public, slack.MsgOptionText("hi", false)); slackError(t, err) != "invalid_auth" {
		t.Errorf("post with wrong token: %v, want invalid_auth", err)
	}
	calls := s.Calls("auth.test")
	if len(calls) != 2 || calls[0].Error != "" || calls[1].Error != "invalid_auth" {
		t.Errorf("recorded auth.test calls = %+v", calls)
	}
	if _, ok := calls[0].Params["token"]; ok {
		t.Errorf("recorded params hold the token: %v", calls[0].Params)
	}
	for _, c := range s.Calls("") {
		if bytes.Contains(c.Body, []byte(slackapi.DefaultToken)) || bytes.Contains(c.Body, []byte("xoxb-wrong")) {
			t.Errorf("recorded body holds a token: %s", c.Body)
		}
	}
}

func TestPostMessageRecordsBlocksAndMetadata(t *testing.T) {
	s, api := newServer(t)
	blocks := []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*Deploy* `api`", false, false), nil, nil, slack.SectionBlockOptionBlockID("release_1_title")),
	}
	meta := slack.SlackMetadata{EventType: "hoist_release", EventPayload: map[string]any{"release_id": "1"}}
	ch, ts, err := api.PostMessageContext(t.Context(), public,
		slack.MsgOptionText("Release #1", false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionMetadata(meta))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	if ch != public || ts != "1700000000.000100" {
		t.Errorf("post returned %q %q, want %q 1700000000.000100", ch, ts, public)
	}
	_, ts2, err := api.PostMessageContext(t.Context(), "#deploys", slack.MsgOptionText("second", false), slack.MsgOptionTS(ts))
	if err != nil {
		t.Fatalf("post by channel name: %v", err)
	}
	if ts2 <= ts {
		t.Errorf("second ts %q is not after %q", ts2, ts)
	}

	calls := s.Calls("chat.postMessage")
	if len(calls) != 2 {
		t.Fatalf("got %d calls, want 2", len(calls))
	}
	var sent []map[string]any
	if err := json.Unmarshal(calls[0].Blocks, &sent); err != nil || len(sent) != 1 || sent[0]["block_id"] != "release_1_title" {
		t.Errorf("recorded blocks = %s (%v)", calls[0].Blocks, err)
	}
	if calls[0].Params["text"] != "Release #1" {
		t.Errorf("recorded text = %q", calls[0].Params["text"])
	}

	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	var md slack.SlackMetadata
	if err := json.Unmarshal(msgs[0].Metadata, &md); err != nil || md.EventType != "hoist_release" || md.EventPayload["release_id"] != "1" {
		t.Errorf("message metadata = %s (%v)", msgs[0].Metadata, err)
	}
	if msgs[1].ThreadTS != ts || msgs[1].Channel != public {
		t.Errorf("reply = %+v, want thread_ts %q in %s", msgs[1], ts, public)
	}
}

func TestPostMessageChannelErrors(t *testing.T) {
	_, api := newServer(t)
	for _, tc := range []struct{ channel, want string }{
		{outside, "not_in_channel"},
		{secret, "channel_not_found"},
		{"C0NOWHERE", "channel_not_found"},
		{archived, "is_archived"},
	} {
		_, _, err := api.PostMessageContext(t.Context(), tc.channel, slack.MsgOptionText("hi", false))
		if got := slackError(t, err); got != tc.want {
			t.Errorf("post in %s: %q, want %q", tc.channel, got, tc.want)
		}
	}
	if _, _, err := api.PostMessageContext(t.Context(), private, slack.MsgOptionText("hi", false)); err != nil {
		t.Errorf("post in a private channel the bot is in: %v", err)
	}
	if _, _, err := api.PostMessageContext(t.Context(), public); slackError(t, err) != "no_text" {
		t.Errorf("post without text: %v, want no_text", err)
	}
}

func TestNotInChannelThenJoinThenPost(t *testing.T) {
	s, api := newServer(t)
	ctx := t.Context()
	_, _, err := api.PostMessageContext(ctx, outside, slack.MsgOptionText("hi", false))
	if slackError(t, err) != "not_in_channel" {
		t.Fatalf("first post: %v, want not_in_channel", err)
	}
	ch, warning, _, err := api.JoinConversationContext(ctx, outside)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if ch.ID != outside || !ch.IsMember || warning != "" {
		t.Errorf("join = %+v, warning %q", ch, warning)
	}
	if !s.IsMember(outside) {
		t.Error("bot is not a member after joining")
	}
	if _, _, err := api.PostMessageContext(ctx, outside, slack.MsgOptionText("hi", false)); err != nil {
		t.Fatalf("post after join: %v", err)
	}
	if _, warning, _, err := api.JoinConversationContext(ctx, outside); err != nil || warning != "already_in_channel" {
		t.Errorf("second join: warning %q, %v; want already_in_channel", warning, err)
	}
	for _, tc := range []struct{ channel, want string }{
		{secret, "method_not_supported_for_channel_type"},
		{private, "method_not_supported_for_channel_type"},
		{archived, "is_archived"},
		{"C0NOWHERE", "channel_not_found"},
	} {
		if _, _, _, err := api.JoinConversationContext(ctx, tc.channel); slackError(t, err) != tc.want {
			t.Errorf("join %s: %v, want %s", tc.channel, err, tc.want)
		}
	}
}

func TestUpdateMessage(t *testing.T) {
	s, api := newServer(t)
	ctx := t.Context()
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "one", false, false), nil, nil)}
	_, ts, err := api.PostMessageContext(ctx, public, slack.MsgOptionText("one", false), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		t.Fatal(err)
	}
	newBlocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "two", false, false), nil, nil)}
	ch, uts, text, err := api.UpdateMessageContext(ctx, public, ts, slack.MsgOptionText("two", false), slack.MsgOptionBlocks(newBlocks...))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if ch != public || uts != ts || text != "two" {
		t.Errorf("update returned %q %q %q", ch, uts, text)
	}
	m, ok := s.Message(public, ts)
	if !ok || m.Text != "two" || !bytes.Contains(m.Blocks, []byte(`"two"`)) || m.Edits != 1 {
		t.Errorf("message after update = %+v", m)
	}
	// Text alone keeps the blocks, as in Slack.
	if _, _, _, err := api.UpdateMessageContext(ctx, public, ts, slack.MsgOptionText("three", false)); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Message(public, ts); m.Text != "three" || !bytes.Contains(m.Blocks, []byte(`"two"`)) {
		t.Errorf("message after text-only update = %+v", m)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, public, "1700000099.000100", slack.MsgOptionText("x", false)); slackError(t, err) != "message_not_found" {
		t.Errorf("update of unknown ts: %v, want message_not_found", err)
	}
}

func TestInvalidBlocksRefused(t *testing.T) {
	_, api := newServer(t)
	long := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, strings.Repeat("x", 3001), false, false), nil, nil)
	_, _, err := api.PostMessageContext(t.Context(), public, slack.MsgOptionText("x", false), slack.MsgOptionBlocks(long))
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "invalid_blocks" {
		t.Fatalf("post with a 3001-character section: %v, want invalid_blocks", err)
	}
	if len(se.ResponseMetadata.Messages) == 0 || !strings.Contains(se.ResponseMetadata.Messages[0], "/blocks/0/text/text") {
		t.Errorf("response_metadata.messages = %v", se.ResponseMetadata.Messages)
	}
}

func TestPostEphemeral(t *testing.T) {
	s, api := newServer(t)
	ts, err := api.PostEphemeralContext(t.Context(), public, "U123", slack.MsgOptionText("only you", false))
	if err != nil || ts == "" {
		t.Fatalf("postEphemeral = %q, %v", ts, err)
	}
	calls := s.Calls("chat.postEphemeral")
	if len(calls) != 1 || calls[0].Params["user"] != "U123" || calls[0].Params["text"] != "only you" {
		t.Errorf("recorded = %+v", calls)
	}
	if len(s.Messages()) != 0 {
		t.Errorf("an ephemeral message is kept as a message: %+v", s.Messages())
	}
}

func TestGetPermalink(t *testing.T) {
	_, api := newServer(t)
	ctx := t.Context()
	_, ts, err := api.PostMessageContext(ctx, public, slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	link, err := api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: public, Ts: ts})
	if err != nil {
		t.Fatalf("getPermalink: %v", err)
	}
	if want := "https://example.slack.com/archives/" + public + "/p1700000000000100"; link != want {
		t.Errorf("permalink = %q, want %q", link, want)
	}
	if _, err := api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: public, Ts: "1.2"}); slackError(t, err) != "message_not_found" {
		t.Errorf("permalink of unknown ts: %v", err)
	}
}

func TestConversationInfo(t *testing.T) {
	_, api := newServer(t)
	ch, err := api.GetConversationInfoContext(t.Context(), &slack.GetConversationInfoInput{ChannelID: private})
	if err != nil {
		t.Fatalf("conversations.info: %v", err)
	}
	if ch.Name != "ops" || !ch.IsPrivate || !ch.IsMember {
		t.Errorf("info = %+v", ch)
	}
	if _, err := api.GetConversationInfoContext(t.Context(), &slack.GetConversationInfoInput{ChannelID: secret}); slackError(t, err) != "channel_not_found" {
		t.Errorf("info of a private channel the bot is not in: %v", err)
	}
}

func TestUserGroups(t *testing.T) {
	s, api := newServer(t)
	users, err := api.GetUserGroupMembersContext(t.Context(), adminsGrp)
	if err != nil || strings.Join(users, ",") != "UADMIN1,UADMIN2" {
		t.Errorf("members = %v, %v", users, err)
	}
	s.SetUserGroup(adminsGrp, "UADMIN1", "UADMIN3")
	if users, err := api.GetUserGroupMembersContext(t.Context(), adminsGrp); err != nil || strings.Join(users, ",") != "UADMIN1,UADMIN3" {
		t.Errorf("members after SetUserGroup = %v, %v", users, err)
	}
	if _, err := api.GetUserGroupMembersContext(t.Context(), "S0NOPE"); slackError(t, err) != "no_such_subteam" {
		t.Errorf("unknown group: %v", err)
	}

	_, free := newServer(t, slackapi.WithoutUserGroups())
	if _, err := free.GetUserGroupMembersContext(t.Context(), adminsGrp); slackError(t, err) != "paid_teams_only" {
		t.Errorf("plan without user groups: %v, want paid_teams_only", err)
	}
}

func TestFailNext(t *testing.T) {
	s, api := newServer(t)
	s.FailNext("chat.postMessage", "fatal_error")
	s.FailNext("chat.postMessage", "msg_too_long")
	for _, want := range []string{"fatal_error", "msg_too_long"} {
		if _, _, err := api.PostMessageContext(t.Context(), public, slack.MsgOptionText("hi", false)); slackError(t, err) != want {
			t.Errorf("post: %v, want %s", err, want)
		}
	}
	if _, _, err := api.PostMessageContext(t.Context(), public, slack.MsgOptionText("hi", false)); err != nil {
		t.Errorf("post after injected failures: %v", err)
	}
}

func TestRateLimitNext(t *testing.T) {
	s, api := newServer(t)
	s.RateLimitNext("chat.update", 7)
	_, ts, err := api.PostMessageContext(t.Context(), public, slack.MsgOptionText("hi", false))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = api.UpdateMessageContext(t.Context(), public, ts, slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
		t.Fatalf("update: %v (%T), want *slack.RateLimitedError with 7s", err, err)
	}
	calls := s.Calls("chat.update")
	if len(calls) != 1 || calls[0].Status != http.StatusTooManyRequests || calls[0].Error != "ratelimited" {
		t.Errorf("recorded = %+v", calls)
	}
	if _, _, _, err := api.UpdateMessageContext(t.Context(), public, ts, slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("update after the rate limit: %v", err)
	}

	s.RateLimitNext("auth.test", 0)
	if _, err := api.AuthTestContext(t.Context()); !errors.As(err, &rl) || rl.RetryAfter != 0 {
		t.Errorf("auth.test: %v, want *slack.RateLimitedError with 0s", err)
	}
}

func TestWithListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := slackapi.New(slackapi.WithListener(l), slackapi.WithToken("xoxb-other"))
	defer s.Close()
	if want := "http://" + l.Addr().String() + "/api/"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	api := slack.New("xoxb-other", slack.OptionAPIURL(s.URL()))
	if _, err := api.AuthTestContext(t.Context()); err != nil {
		t.Errorf("auth.test with the configured token: %v", err)
	}
}

func TestUploadFile(t *testing.T) {
	s, api := newServer(t)
	content := "step 1 ok\nstep 2 ok\n"
	f, err := api.UploadFileContext(t.Context(), slack.UploadFileParameters{
		Filename: "build.log", Title: "Build log", Content: content, FileSize: len(content),
		Channel: public, ThreadTimestamp: "1700000000.000100",
	})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if f.ID == "" || f.Title != "Build log" {
		t.Errorf("upload returned %+v", f)
	}
	ups := s.Calls(slackapi.MethodUpload)
	if len(ups) != 1 || string(ups[0].Body) != content || ups[0].Ref != f.ID || ups[0].Params["filename"] != "build.log" {
		t.Errorf("recorded upload = %+v", ups)
	}
	files := s.Files()
	if len(files) != 1 || !files[0].Complete || string(files[0].Content) != content || files[0].Channel != public || files[0].ThreadTS != "1700000000.000100" {
		t.Errorf("files = %+v", files)
	}
	for _, m := range []string{"files.getUploadURLExternal", "files.completeUploadExternal"} {
		if n := len(s.Calls(m)); n != 1 {
			t.Errorf("%d %s calls, want 1", n, m)
		}
	}

	_, err = api.UploadFileContext(t.Context(), slack.UploadFileParameters{Filename: "x.log", Content: "x", FileSize: 1, Channel: secret})
	if slackError(t, err) != "channel_not_found" {
		t.Errorf("upload to a private channel the bot is not in: %v", err)
	}
}

func TestResponseURL(t *testing.T) {
	s, _ := newServer(t)
	post := func(body string) (status int) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.ResponseURL("req-1"), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post(`{"response_type":"ephemeral","text":"done","replace_original":false}`); status != http.StatusOK {
		t.Errorf("status %d", status)
	}
	calls := s.Calls(slackapi.MethodResponseURL)
	if len(calls) != 1 {
		t.Fatalf("got %d calls", len(calls))
	}
	want := map[string]string{"response_type": "ephemeral", "text": "done", "replace_original": "false"}
	for k, v := range want {
		if calls[0].Params[k] != v {
			t.Errorf("param %s = %q, want %q", k, calls[0].Params[k], v)
		}
	}
	if calls[0].Ref != "req-1" {
		t.Errorf("ref = %q", calls[0].Ref)
	}

	s.FailNext(slackapi.MethodResponseURL, "expired_url")
	if status := post(`{"text":"late"}`); status != http.StatusNotFound {
		t.Errorf("injected failure: status %d, want 404", status)
	}
	// slack-go's own response_url path works too.
	api := slack.New(slackapi.DefaultToken)
	if _, _, err := api.PostMessageContext(t.Context(), "", slack.MsgOptionText("via slack-go", false),
		slack.MsgOptionResponseURL(s.ResponseURL("req-2"), slack.ResponseTypeEphemeral)); err != nil {
		t.Errorf("slack-go response_url post: %v", err)
	}
	if c := s.Calls(slackapi.MethodResponseURL); len(c) != 3 || c[2].Params["text"] != "via slack-go" || c[2].Params["response_type"] != "ephemeral" {
		t.Errorf("recorded = %+v", c)
	}
}

func TestWaitForAndSubscribe(t *testing.T) {
	s, api := newServer(t)
	events, cancel := s.Subscribe()
	defer cancel()

	done := make(chan error, 1)
	go func() {
		for range 3 {
			if _, _, err := api.PostMessageContext(context.Background(), public, slack.MsgOptionText("hi", false)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	ctx, stop := context.WithTimeout(t.Context(), 5*time.Second)
	defer stop()
	calls, err := s.WaitFor(ctx, "chat.postMessage", 3)
	if err != nil || len(calls) < 3 {
		t.Fatalf("WaitFor = %d calls, %v", len(calls), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case c := <-events:
			if c.Method != "chat.postMessage" {
				t.Errorf("event %s", c.Method)
			}
		case <-ctx.Done():
			t.Fatal("subscriber got fewer than 3 calls")
		}
	}
	cancel()
	if _, ok := <-events; ok {
		t.Error("channel still open after cancel")
	}
	cancel() // idempotent

	short, stop2 := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer stop2()
	if _, err := s.WaitFor(short, "chat.update", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor with nothing coming: %v, want deadline exceeded", err)
	}
}

func TestRateLimitTier(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := slackapi.New(slackapi.WithRateLimit("chat.update", 3), slackapi.WithClock(clock), slackapi.WithChannel("C1", "general", false, true))
	defer s.Close()
	api := slack.New(slackapi.DefaultToken, slack.OptionAPIURL(s.URL()))
	_, ts, err := api.PostMessage("C1", slack.MsgOptionText("hello", false))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, _, err := api.UpdateMessage("C1", ts, slack.MsgOptionText("edit", false)); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	_, _, _, err = api.UpdateMessage("C1", ts, slack.MsgOptionText("edit", false))
	var limited *slack.RateLimitedError
	if !errors.As(err, &limited) || limited.RetryAfter != 60*time.Second {
		t.Fatalf("fourth update in a minute: %v; want a 429 with Retry-After 60", err)
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	if _, _, _, err := api.UpdateMessage("C1", ts, slack.MsgOptionText("edit", false)); err != nil {
		t.Fatalf("update after a minute: %v", err)
	}
}
