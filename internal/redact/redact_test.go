package redact

import (
	"bytes"
	"strings"
	"testing"
)

// Fake credentials, shaped like the real ones.
const (
	slackBot   = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
	slackApp   = "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef"
	ghClassic  = "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
	ghFine     = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
	awsKey     = "AKIAIOSFODNN7EXAMPLE"
	jenkinsTok = "11a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7"
)

func mustNew(t testing.TB, patterns []string, literals ...string) *Redactor {
	t.Helper()
	r, err := New(patterns, literals...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func TestRedact(t *testing.T) {
	r := mustNew(t, []string{`password=\S+`, `(?i)secret-[a-z]+`}, jenkinsTok, "", "hunter2-long")
	for _, tc := range []struct{ name, in, want string }{
		{"nothing", "Started by user admin\nBUILD SUCCESS", "Started by user admin\nBUILD SUCCESS"},
		{"empty", "", ""},
		{"slack bot token", "token=" + slackBot + " ok", "token=[REDACTED] ok"},
		{"slack user and refresh tokens", "xoxp-1-2-abc xoxr-zz xoxs-9 xoxa-2-x", "[REDACTED] [REDACTED] [REDACTED] [REDACTED]"},
		{"slack app token", "SLACK_APP_TOKEN=" + slackApp, "SLACK_APP_TOKEN=[REDACTED]"},
		{"not a slack token", "xoxz-123 and xox-123", "xoxz-123 and xox-123"},
		{"github classic", "push with " + ghClassic + ".", "push with [REDACTED]."},
		{"github other prefixes", "gho_" + strings.Repeat("a", 36) + " ghs_" + strings.Repeat("B", 40), "[REDACTED] [REDACTED]"},
		{"github too short", "ghp_abc", "ghp_abc"},
		{"github fine-grained", "GH=" + ghFine, "GH=[REDACTED]"},
		{"aws key id", "aws_access_key_id = " + awsKey, "aws_access_key_id = [REDACTED]"},
		{"aws lower case is not a key", "akiaiosfodnn7example", "akiaiosfodnn7example"},
		{"bearer header", `curl -H "Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln" https://x`, `curl -H "[REDACTED]" https://x`},
		{"basic header any case", "authorization:basic dXNlcjpwYXNz==\n", "[REDACTED]\n"},
		{"header name alone", "the Authorization: header is set", "the Authorization: header is set"},
		{"configured pattern", "mysql -u root password=s3cr3t! db", "mysql -u root [REDACTED] db"},
		{"configured pattern with flags", "SECRET-ABC secret-def", "[REDACTED] [REDACTED]"},
		{"literal", "curl -u admin:" + jenkinsTok + " https://ci", "curl -u admin:[REDACTED] https://ci"},
		{"literal with regexp characters", "pw hunter2-long.", "pw [REDACTED]."},
		{"several per line", slackBot + awsKey + " " + ghClassic, "[REDACTED] [REDACTED]"},
		{"mask stays", "already [REDACTED] here", "already [REDACTED] here"},
		{"multi-line", "a " + slackBot + "\nb " + awsKey + "\n", "a [REDACTED]\nb [REDACTED]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.String(tc.in); got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			in := []byte(tc.in)
			got := r.Bytes(in)
			if string(got) != tc.want {
				t.Errorf("Bytes(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if string(in) != tc.in {
				t.Errorf("Bytes modified its argument: %q", in)
			}
		})
	}
}

// "several per line" above: a Slack token directly followed by an AWS key
// is one run of token characters, hidden whole.

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patterns []string
		literals []string
		want     string
	}{
		{"invalid pattern", []string{`ok`, `bad(`}, nil, `redact pattern 2 "bad("`},
		{"empty match", []string{`a*`}, nil, "matches the empty string"},
		{"matches the mask", []string{`RED`}, nil, "matches the mask"},
		{"literal in the mask", nil, []string{"ACTED"}, "redact literal secret 1: it is part of the mask"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.patterns, tc.literals...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNewIgnoresEmptyLiterals(t *testing.T) {
	r := mustNew(t, nil, "", "")
	if got := r.String("nothing to hide"); got != "nothing to hide" {
		t.Errorf("got %q", got)
	}
}

func TestLongestLiteralWins(t *testing.T) {
	r := mustNew(t, nil, "abcd1234", "abcd1234efgh5678")
	if got := r.String("x abcd1234efgh5678 y abcd1234 z"); got != "x [REDACTED] y [REDACTED] z" {
		t.Errorf("got %q", got)
	}
}

func TestNilRedactor(t *testing.T) {
	var r *Redactor
	if got := r.String(slackBot); got != slackBot {
		t.Errorf("nil String = %q", got)
	}
	if got := r.Bytes([]byte("x")); string(got) != "x" {
		t.Errorf("nil Bytes = %q", got)
	}
}

func TestStreamFindsSecretsSplitAcrossChunks(t *testing.T) {
	r := mustNew(t, nil, jenkinsTok)
	log := "Started\nusing token " + jenkinsTok + " and " + slackBot + "\nlast line " + awsKey
	for split := 1; split < len(log); split += 7 {
		s := r.NewStream()
		var out bytes.Buffer
		for i := 0; i < len(log); i += split {
			out.Write(s.Next([]byte(log[i:min(i+split, len(log))])))
		}
		out.Write(s.Flush())
		want := "Started\nusing token [REDACTED] and [REDACTED]\nlast line [REDACTED]"
		if out.String() != want {
			t.Fatalf("chunks of %d: got %q, want %q", split, out.String(), want)
		}
	}
}

func TestStreamLetsVeryLongLinesThrough(t *testing.T) {
	s := mustNew(t, nil).NewStream()
	long := bytes.Repeat([]byte("x"), maxHeld+1)
	if got := s.Next(long); len(got) != len(long) {
		t.Errorf("got %d bytes back, want %d", len(got), len(long))
	}
	if got := s.Flush(); len(got) != 0 {
		t.Errorf("flush returned %q", got)
	}
}

func FuzzRedact(f *testing.F) {
	literals := []string{jenkinsTok, "p4ssw0rd-Very-Secret", slackBot, "s3cr3t.value[1]"}
	r := mustNew(f, []string{`password=\S+`, `(?i)token:\s*\w+`}, literals...)
	for _, seed := range []string{
		"",
		"plain log line",
		"token=" + slackBot,
		"Authorization: Bearer abc.def",
		jenkinsTok + jenkinsTok[:5],
		"[REDACTED]" + jenkinsTok,
		"xoxb-" + awsKey + "-" + ghClassic,
		"password=p4ssw0rd-Very-Secret\n",
		"s3cr3t.value[1]]",
		"\xff\xfe invalid utf-8 " + slackApp,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := r.String(in)
		for _, l := range literals {
			if strings.Contains(out, l) {
				t.Fatalf("output %q of %q contains the secret %q", out, in, l)
			}
		}
		if again := r.String(out); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", in, out, again)
		}
		if b := r.Bytes([]byte(in)); string(b) != out {
			t.Fatalf("Bytes %q and String %q differ", b, out)
		}
	})
}
