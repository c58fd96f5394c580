package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

const (
	chMember   = "C0DEPLOYS"
	chOutside  = "C0RANDOM1"
	chPrivate  = "C0SECRET1"
	chArchived = "C0OLDSTUF"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type notifierFixture struct {
	sim   *slackapi.Server
	n     *Notifier
	logs  *syncBuffer
	mu    sync.Mutex
	slept []time.Duration
}

func (f *notifierFixture) sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

func newNotifierFixture(t *testing.T, opts ...NotifierOption) *notifierFixture {
	t.Helper()
	f := &notifierFixture{logs: &syncBuffer{}}
	f.sim = slackapi.New(
		slackapi.WithChannel(chMember, "deploys", false, true),
		slackapi.WithChannel(chOutside, "random", false, false),
		slackapi.WithChannel(chPrivate, "secret", true, false),
		slackapi.WithChannel(chArchived, "old-stuff", false, true),
	)
	t.Cleanup(f.sim.Close)
	f.sim.ArchiveChannel(chArchived)
	api := slack.New(slackapi.DefaultToken, slack.OptionAPIURL(f.sim.URL()))
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]NotifierOption{
		WithCardClock(func() time.Time { return cardNow }),
		WithRetrySleep(func(ctx context.Context, d time.Duration) error {
			f.mu.Lock()
			f.slept = append(f.slept, d)
			f.mu.Unlock()
			return ctx.Err()
		}),
	}, opts...)
	f.n = NewNotifier(api, logger, opts...)
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), slackapi.DefaultToken) {
			t.Errorf("logs carry the bot token:\n%s", f.logs.String())
		}
	})
	return f
}

func awaitingCard() release.Card {
	return release.Card{Release: baseRelease(), RequiredApprovals: 2}
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestNotifierPostCard(t *testing.T) {
	f := newNotifierFixture(t)
	card := awaitingCard()
	ref, err := f.n.PostCard(t.Context(), chMember, card)
	if err != nil {
		t.Fatalf("PostCard: %v", err)
	}
	if ref.Channel != chMember || ref.TS == "" {
		t.Fatalf("ref = %+v", ref)
	}
	m, ok := f.sim.Message(ref.Channel, ref.TS)
	if !ok {
		t.Fatal("card not in the simulator")
	}
	blocks, fallback := RenderCard(card, cardNow)
	if !sameJSON(t, m.Blocks, marshalBlocks(t, blocks)) {
		t.Errorf("posted blocks differ from RenderCard's:\n%s", m.Blocks)
	}
	if m.Text != fallback {
		t.Errorf("text = %q, want %q", m.Text, fallback)
	}
	var md slack.SlackMetadata
	if err := json.Unmarshal(m.Metadata, &md); err != nil {
		t.Fatalf("metadata %s: %v", m.Metadata, err)
	}
	if md.EventType != "hoist_release" || md.EventPayload["release_id"] != "42" {
		t.Errorf("metadata = %+v, want hoist_release with release_id \"42\"", md)
	}
	if n := len(f.sim.Calls("conversations.join")); n != 0 {
		t.Errorf("joined %d times a channel Hoist is in", n)
	}
}

func TestNotifierPostCardJoinsPublicChannel(t *testing.T) {
	f := newNotifierFixture(t)
	ref, err := f.n.PostCard(t.Context(), chOutside, awaitingCard())
	if err != nil {
		t.Fatalf("PostCard: %v", err)
	}
	var seq []string
	for _, c := range f.sim.Calls("") {
		seq = append(seq, c.Method+":"+c.Error)
	}
	want := []string{"chat.postMessage:not_in_channel", "conversations.join:", "chat.postMessage:"}
	if !reflect.DeepEqual(seq, want) {
		t.Errorf("calls = %v, want %v", seq, want)
	}
	if !f.sim.IsMember(chOutside) {
		t.Error("Hoist did not join")
	}
	if _, ok := f.sim.Message(ref.Channel, ref.TS); !ok {
		t.Errorf("no card at %+v", ref)
	}
}

func TestNotifierCannotPost(t *testing.T) {
	for _, tc := range []struct {
		name, channel, want string
	}{
		{"private channel not invited", chPrivate, "I can't post in <#" + chPrivate + ">: it is private or I was not invited. Invite me with `/invite @Hoist` and try again."},
		{"unknown channel", "C0NOWHERE", "I can't post in <#C0NOWHERE>: it is private or I was not invited. Invite me with `/invite @Hoist` and try again."},
		{"archived channel", chArchived, "I can't post in <#" + chArchived + ">: it is archived. Unarchive it, or ask me in another channel."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newNotifierFixture(t)
			_, err := f.n.PostCard(t.Context(), tc.channel, awaitingCard())
			if !errors.Is(err, release.ErrCannotPost) {
				t.Fatalf("PostCard: %v, want ErrCannotPost", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error text = %q, want %q", err.Error(), tc.want)
			}
			var se slack.SlackErrorResponse
			if !errors.As(err, &se) {
				t.Errorf("the Slack error is not kept: %v", err)
			}
			if len(f.sim.Messages()) != 0 {
				t.Errorf("posted anyway: %+v", f.sim.Messages())
			}
		})
	}
}

func TestNotifierRefusedContentEndsTheRelease(t *testing.T) {
	f := newNotifierFixture(t)
	f.sim.FailNext("chat.postMessage", "invalid_blocks")
	_, err := f.n.PostCard(t.Context(), chMember, awaitingCard())
	if !errors.Is(err, release.ErrCannotPost) || !strings.Contains(err.Error(), "Slack refused the release's message") || !strings.Contains(err.Error(), "invalid_blocks") {
		t.Fatalf("PostCard: %v; want ErrCannotPost naming invalid_blocks, so the release ends instead of posting forever", err)
	}
}

func TestNotifierPostCardJoinRefused(t *testing.T) {
	f := newNotifierFixture(t)
	// Slack says "not in channel", then refuses the join: a private channel.
	f.sim.FailNext("chat.postMessage", "not_in_channel")
	_, err := f.n.PostCard(t.Context(), chPrivate, awaitingCard())
	if !errors.Is(err, release.ErrCannotPost) || !strings.Contains(err.Error(), "/invite @Hoist") {
		t.Fatalf("PostCard: %v, want ErrCannotPost with the invite advice", err)
	}
	if calls := f.sim.Calls("conversations.join"); len(calls) != 1 || calls[0].Error != "method_not_supported_for_channel_type" {
		t.Errorf("join calls = %+v", calls)
	}
}

func TestNotifierRateLimited(t *testing.T) {
	t.Run("retries after the wait Slack asks for", func(t *testing.T) {
		f := newNotifierFixture(t)
		f.sim.RateLimitNext("chat.postMessage", 1)
		f.sim.RateLimitNext("chat.postMessage", 2)
		ref, err := f.n.PostCard(t.Context(), chMember, awaitingCard())
		if err != nil {
			t.Fatalf("PostCard: %v", err)
		}
		if got, want := f.sleeps(), []time.Duration{time.Second, 2 * time.Second}; !reflect.DeepEqual(got, want) {
			t.Errorf("waited %v, want %v", got, want)
		}
		if n := len(f.sim.Calls("chat.postMessage")); n != 3 {
			t.Errorf("%d calls, want 3", n)
		}
		if _, ok := f.sim.Message(ref.Channel, ref.TS); !ok {
			t.Error("no card")
		}
	})
	t.Run("gives up after three tries", func(t *testing.T) {
		f := newNotifierFixture(t)
		for range 3 {
			f.sim.RateLimitNext("chat.update", 1)
		}
		err := f.n.UpdateCard(t.Context(), release.MessageRef{Channel: chMember, TS: "1700000000.000100"}, awaitingCard())
		var limited *slack.RateLimitedError
		if !errors.As(err, &limited) {
			t.Fatalf("UpdateCard: %v, want a *slack.RateLimitedError", err)
		}
		if !strings.HasPrefix(err.Error(), "update card "+chMember+"/1700000000.000100: ") {
			t.Errorf("error = %q", err)
		}
		if n := len(f.sim.Calls("chat.update")); n != 3 {
			t.Errorf("%d calls, want 3", n)
		}
		if n := len(f.sleeps()); n != 2 {
			t.Errorf("waited %d times, want 2", n)
		}
	})
	t.Run("stops waiting when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		f := newNotifierFixture(t, WithRetrySleep(func(ctx context.Context, d time.Duration) error {
			cancel() // the caller gives up while Hoist waits
			return sleepContext(ctx, d)
		}))
		f.sim.RateLimitNext("chat.postMessage", 30)
		start := time.Now()
		_, err := f.n.PostCard(ctx, chMember, awaitingCard())
		var limited *slack.RateLimitedError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &limited) {
			t.Errorf("PostCard: %v, want context.Canceled and the rate limit", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Error("waited out the rate limit despite the cancelled context")
		}
		if n := len(f.sim.Calls("chat.postMessage")); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
}

func TestSleepContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	if err := sleepContext(ctx, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep past the deadline: %v", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Error("sleep past the deadline waited instead of giving up")
	}
	if err := sleepContext(t.Context(), time.Millisecond); err != nil {
		t.Errorf("short sleep: %v", err)
	}
}

func TestNotifierUpdateCard(t *testing.T) {
	f := newNotifierFixture(t)
	ref, err := f.n.PostCard(t.Context(), chMember, awaitingCard())
	if err != nil {
		t.Fatal(err)
	}
	card := awaitingCard()
	card.Release.State = release.Approved
	card.Votes = []release.Vote{vote("UA1", true, ""), vote("UA2", true, "")}
	if err := f.n.UpdateCard(t.Context(), ref, card); err != nil {
		t.Fatalf("UpdateCard: %v", err)
	}
	m, _ := f.sim.Message(ref.Channel, ref.TS)
	blocks, fallback := RenderCard(card, cardNow)
	if m.Edits != 1 || m.Text != fallback || !sameJSON(t, m.Blocks, marshalBlocks(t, blocks)) {
		t.Errorf("card after update = %+v", m)
	}
	if bytes.Contains(m.Blocks, []byte("hoist_approve")) {
		t.Error("the approved card still has buttons")
	}
	if !bytes.Contains(m.Metadata, []byte(`"release_id":"42"`)) {
		t.Errorf("metadata = %s", m.Metadata)
	}

	err = f.n.UpdateCard(t.Context(), release.MessageRef{Channel: chMember, TS: "1699999999.000001"}, card)
	if slackErrorCode(err) != "message_not_found" || !strings.HasPrefix(err.Error(), "update card ") {
		t.Errorf("update of a missing card: %v", err)
	}
}

func TestNotifierAnnounce(t *testing.T) {
	f := newNotifierFixture(t)
	ref, err := f.n.PostCard(t.Context(), chMember, awaitingCard())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.n.Announce(t.Context(), chOutside, "Release #42 started: deploy `api` → *production* (requested by <@U123>)", ref); err != nil {
		t.Fatalf("Announce: %v", err)
	}
	msgs := f.sim.Messages()
	last := msgs[len(msgs)-1]
	wantLink := "<https://example.slack.com/archives/" + chMember + "/p" + strings.Replace(ref.TS, ".", "", 1) + "|Open the release>"
	if last.Channel != chOutside || !strings.HasPrefix(last.Text, "Release #42 started: deploy `api` → *production* (requested by <@U123>)") || !strings.HasSuffix(last.Text, wantLink) {
		t.Errorf("announcement = %+v, want it in %s ending in %s", last, chOutside, wantLink)
	}
	if !f.sim.IsMember(chOutside) {
		t.Error("Hoist did not join the announcement channel")
	}
	calls := f.sim.Calls("chat.postMessage")
	if calls[len(calls)-1].Params["unfurl_links"] != "false" {
		t.Error("the announcement unfurls its link")
	}

	f.sim.FailNext("chat.getPermalink", "fatal_error")
	if err := f.n.Announce(t.Context(), chOutside, "Release #42 succeeded", ref); err != nil {
		t.Fatalf("Announce without a permalink: %v", err)
	}
	msgs = f.sim.Messages()
	if last := msgs[len(msgs)-1]; last.Text != "Release #42 succeeded" {
		t.Errorf("announcement without a permalink = %q", last.Text)
	}
	if !strings.Contains(f.logs.String(), "permalink") {
		t.Errorf("the missing permalink is not logged:\n%s", f.logs)
	}

	if err := f.n.Announce(t.Context(), chPrivate, "x", ref); !errors.Is(err, release.ErrCannotPost) {
		t.Errorf("announce in a private channel: %v, want ErrCannotPost", err)
	}
}

func TestNotifierPostThread(t *testing.T) {
	f := newNotifierFixture(t)
	ref, err := f.n.PostCard(t.Context(), chMember, awaitingCard())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.n.PostThread(t.Context(), ref, "build #12 started: <https://ci.example.com/job/api/12/|log> <!channel>"); err != nil {
		t.Fatalf("PostThread: %v", err)
	}
	msgs := f.sim.Messages()
	reply := msgs[len(msgs)-1]
	if reply.ThreadTS != ref.TS || reply.Channel != ref.Channel {
		t.Errorf("reply = %+v, want it in the thread of %+v", reply, ref)
	}
	if want := "build #12 started: <https://ci.example.com/job/api/12/|log> &lt;!channel&gt;"; reply.Text != want {
		t.Errorf("reply text = %q, want %q", reply.Text, want)
	}

	f.sim.FailNext("chat.postMessage", "fatal_error")
	err = f.n.PostThread(t.Context(), ref, "x")
	if want := "post in thread " + ref.Channel + "/" + ref.TS + ": fatal_error"; err == nil || err.Error() != want {
		t.Errorf("PostThread error = %v, want %q", err, want)
	}
}

// TestNotifierPostsCardsSlackAccepts posts every card of the golden table
// to the simulator, which refuses blocks beyond Slack's limits.
func TestNotifierPostsCardsSlackAccepts(t *testing.T) {
	f := newNotifierFixture(t)
	for _, tc := range cardCases() {
		if _, err := f.n.PostCard(t.Context(), chMember, tc.card); err != nil {
			var se slack.SlackErrorResponse
			errors.As(err, &se)
			t.Errorf("%s: %v %v", tc.name, err, se.ResponseMetadata.Messages)
		}
	}
}

func TestNotifierRespond(t *testing.T) {
	f := newNotifierFixture(t)
	ctx := t.Context()
	if err := f.n.Respond(ctx, f.sim.ResponseURL("req-1"), "Release #42 is waiting for approval & <!here>"); err != nil {
		t.Fatalf("Respond: %v", err)
	}
	calls := f.sim.Calls(slackapi.MethodResponseURL)
	if len(calls) != 1 {
		t.Fatalf("%d response_url calls", len(calls))
	}
	want := map[string]string{"response_type": "ephemeral", "replace_original": "false", "text": "Release #42 is waiting for approval &amp; &lt;!here&gt;"}
	for k, v := range want {
		if got := calls[0].Params[k]; got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if calls[0].Ref != "req-1" {
		t.Errorf("posted to %q", calls[0].Ref)
	}

	f.sim.FailNext(slackapi.MethodResponseURL, "expired_url")
	err := f.n.Respond(ctx, f.sim.ResponseURL("req-2"), "late")
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "expired_url") {
		t.Errorf("Respond to an expired URL: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.n.Respond(cancelled, f.sim.ResponseURL("req-3"), "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Respond with a cancelled context: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNotifierRespondAcceptsOnlySlackAndLoopback(t *testing.T) {
	var mu sync.Mutex
	var sent []*http.Request
	var bodies []string
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sent = append(sent, r)
		bodies = append(bodies, string(b))
		mu.Unlock()
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{"Content-Type": {"text/plain"}}}, nil
	})}
	n := NewNotifier(nil, nil, WithResponseClient(client))
	for _, raw := range []string{
		"https://hooks.slack.com/actions/T0001/123/abcdef",
		"https://hooks.slack-gov.com/actions/T0001/123/abcdef",
		"http://127.0.0.1:8080/response/1",
		"http://localhost:9/r",
		"http://[::1]:9/r",
	} {
		if err := n.Respond(t.Context(), raw, "hi"); err != nil {
			t.Errorf("Respond(%s): %v", raw, err)
		}
	}
	for _, raw := range []string{
		"http://hooks.slack.com/actions/T0001/123/abcdef",
		"https://evil.example.com/actions/T0001/123/abcdef",
		"https://hooks.slack.com.evil.example/x",
		"http://10.0.0.8/internal",
		"http://169.254.169.254/latest/meta-data",
		"ftp://127.0.0.1/x",
		"https://user:pw@hooks.slack.com/x",
		"/relative/path",
		"",
		"::not a url",
	} {
		err := n.Respond(t.Context(), raw, "hi")
		if err == nil {
			t.Errorf("Respond(%q) accepted", raw)
			continue
		}
		if strings.Contains(raw, "/") && strings.Contains(err.Error(), raw) {
			t.Errorf("Respond(%q) error repeats the URL: %v", raw, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 5 {
		t.Fatalf("%d requests went out, want 5", len(sent))
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(bodies[0]), &body); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(body, map[string]any{"response_type": "ephemeral", "text": "hi", "replace_original": false}) {
		t.Errorf("body = %v", body)
	}
	if sent[0].Method != http.MethodPost || sent[0].Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %v", sent[0].Method, sent[0].Header)
	}
}

func TestNotifierRespondNeverLeaksTheURL(t *testing.T) {
	const secretPath = "/actions/T0001/123/s3cr3tT0kenPart"
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection reset by peer")
	})}
	var logs syncBuffer
	n := NewNotifier(nil, slog.New(slog.NewTextHandler(&logs, nil)), WithResponseClient(client))
	err := n.Respond(t.Context(), "https://hooks.slack.com"+secretPath, "hi")
	if err == nil {
		t.Fatal("Respond succeeded over a broken transport")
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("the response URL leaked: %v\n%s", err, logs.String())
	}
	if !strings.Contains(err.Error(), "hooks.slack.com") || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("error %q does not say where and what", err)
	}
}

func TestNotifierDefaultResponseClient(t *testing.T) {
	n := NewNotifier(nil, nil)
	if n.httpClient.Timeout <= 0 {
		t.Error("the default response client has no timeout")
	}
	if n.httpClient.CheckRedirect == nil {
		t.Error("the default response client follows redirects")
	}
}
