package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("xoxb-SECRETVALUE")
	if s.Reveal() != "xoxb-SECRETVALUE" {
		t.Fatalf("Reveal() = %q", s.Reveal())
	}
	type holder struct {
		Token Secret `json:"token"`
	}
	jsonBytes, err := json.Marshal(holder{Token: s})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", s, "holder", holder{Token: s})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "token", s)

	outputs := map[string]string{
		"String":       s.String(),
		"%v":           fmt.Sprintf("%v", s),
		"%s":           fmt.Sprintf("%s", s),
		"%#v":          fmt.Sprintf("%#v", s),
		"%+v":          fmt.Sprintf("%+v", s),
		"%q":           fmt.Sprintf("%q", s),
		"%x":           fmt.Sprintf("%x", s),
		"%d":           fmt.Sprintf("%d", s),
		"%10s":         fmt.Sprintf("%10s", s),
		"struct %+v":   fmt.Sprintf("%+v", holder{Token: s}),
		"struct %#v":   fmt.Sprintf("%#v", holder{Token: s}),
		"pointer %v":   fmt.Sprintf("%v", &holder{Token: s}),
		"json":         string(jsonBytes),
		"slog":         logs.String(),
		"config %+v":   fmt.Sprintf("%+v", Config{Slack: Slack{BotToken: s}, Store: Store{DSN: s}}),
		"config %#v":   fmt.Sprintf("%#v", Config{Slack: Slack{BotToken: s}, Jenkins: Jenkins{Token: s}}),
		"Println":      fmt.Sprintln(s, []Secret{s}, map[string]Secret{"k": s}),
		"Errorf":       fmt.Errorf("token %v: %w", s, fmt.Errorf("inner")).Error(),
		"MarshalText":  string(must(s.MarshalText())),
		"GoString":     s.GoString(),
		"LogValue":     s.LogValue().String(),
		"Config JSON":  string(must(json.Marshal(Config{GitHub: GitHub{Token: s}}))),
		"empty secret": fmt.Sprintf("%v|%s", Secret(""), must(json.Marshal(holder{}))),
	}
	for name, out := range outputs {
		if strings.Contains(out, "SECRETVALUE") {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
	}
	for _, name := range []string{"String", "%v", "%s", "%#v", "%x", "%d", "GoString", "LogValue", "MarshalText"} {
		if outputs[name] != "<secret>" {
			t.Errorf("%s = %q, want <secret>", name, outputs[name])
		}
	}
	if outputs["%q"] != `"<secret>"` {
		t.Errorf("%%q = %q", outputs["%q"])
	}
	var decoded map[string]string
	if err := json.Unmarshal(jsonBytes, &decoded); err != nil || decoded["token"] != "<secret>" {
		t.Errorf("json = %s (%v)", jsonBytes, err)
	}
	if !strings.Contains(logs.String(), `"token":"<secret>"`) || !strings.Contains(logs.String(), "token=<secret>") {
		t.Errorf("slog = %s", logs.String())
	}
	if outputs["empty secret"] != `|{"token":""}` {
		t.Errorf("empty secret = %q", outputs["empty secret"])
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
