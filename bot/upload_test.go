package bot

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
)

func TestNotifierUploadLog(t *testing.T) {
	f := newNotifierFixture(t)
	card := postCardForBuild(t, f, chMember)
	log := bytes.Repeat([]byte("[Pipeline] sh\n+ make test\nok\n"), 1000)
	if err := f.n.UploadLog(t.Context(), card, "api-staging-12.log", log); err != nil {
		t.Fatalf("UploadLog: %v", err)
	}
	files := f.sim.Files()
	if len(files) != 1 {
		t.Fatalf("%d files, want 1", len(files))
	}
	got := files[0]
	if !bytes.Equal(got.Content, log) || got.Length != len(log) {
		t.Errorf("content of %d bytes (declared %d), want the %d-byte log", len(got.Content), got.Length, len(log))
	}
	if !got.Uploaded || !got.Complete {
		t.Errorf("file = %+v, want uploaded and complete", got)
	}
	if got.Channel != card.Channel || got.ThreadTS != card.TS {
		t.Errorf("shared in %s/%s, want the card's thread %s/%s", got.Channel, got.ThreadTS, card.Channel, card.TS)
	}
	if got.Name != "api-staging-12.log" || got.Title != "api-staging-12.log" {
		t.Errorf("name %q title %q", got.Name, got.Title)
	}
	var methods []string
	for _, c := range f.sim.Calls("") {
		methods = append(methods, c.Method)
	}
	want := "chat.postMessage files.getUploadURLExternal file_upload files.completeUploadExternal"
	if strings.Join(methods, " ") != want {
		t.Errorf("calls = %v, want %s", methods, want)
	}
}

func TestNotifierUploadLogRetriesRateLimits(t *testing.T) {
	f := newNotifierFixture(t)
	card := postCardForBuild(t, f, chMember)
	f.sim.RateLimitNext("files.completeUploadExternal", 2)
	if err := f.n.UploadLog(t.Context(), card, "build.log", []byte("log\n")); err != nil {
		t.Fatalf("UploadLog: %v", err)
	}
	var complete int
	for _, file := range f.sim.Files() {
		if file.Complete {
			complete++
		}
	}
	if complete != 1 {
		t.Errorf("%d complete files, want 1", complete)
	}
}

func TestNotifierUploadLogEmptyAndOddNames(t *testing.T) {
	f := newNotifierFixture(t)
	card := postCardForBuild(t, f, chMember)
	if err := f.n.UploadLog(t.Context(), card, "../../etc/passwd\n", nil); err != nil {
		t.Fatalf("UploadLog: %v", err)
	}
	file := f.sim.Files()[0]
	if string(file.Content) != emptyLog {
		t.Errorf("content %q, want %q", file.Content, emptyLog)
	}
	if strings.ContainsAny(file.Name, "/\n") {
		t.Errorf("file name %q", file.Name)
	}
}

func TestNotifierUploadLogCannotPost(t *testing.T) {
	f := newNotifierFixture(t)
	err := f.n.UploadLog(t.Context(), release.MessageRef{Channel: chArchived, TS: "1.2"}, "build.log", []byte("x"))
	if !errors.Is(err, release.ErrCannotPost) {
		t.Errorf("UploadLog in an archived channel: %v, want ErrCannotPost", err)
	}
}

type postOnly struct{ SlackAPI }

func TestNotifierUploadLogNeedsUploader(t *testing.T) {
	n := NewNotifier(postOnly{}, nil)
	err := n.UploadLog(context.Background(), release.MessageRef{Channel: "C1", TS: "1.2"}, "build.log", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "cannot upload files") {
		t.Errorf("err = %v", err)
	}
}

func TestLogFileName(t *testing.T) {
	for in, want := range map[string]string{
		"api-staging-12.log":              "api-staging-12.log",
		"":                                defaultLogName,
		" .. ":                            defaultLogName,
		"a/b\\c\x00.log":                  "a_b_c_.log",
		strings.Repeat("x", 300) + ".log": strings.Repeat("x", maxFileName-4) + ".log",
	} {
		if got := logFileName(in); got != want {
			t.Errorf("logFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

var _ FileUploader = (*slack.Client)(nil)
