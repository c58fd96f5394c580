package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestLogFormat(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, "").Info("hello", "n", 1)
	if !json.Valid(bytes.TrimSpace(buf.Bytes())) {
		t.Errorf("the default format for a writer that is not a terminal is not JSON: %s", buf.String())
	}
	buf.Reset()
	newLogger(&buf, "text").Info("hello", "n", 1)
	if !strings.Contains(buf.String(), "level=INFO msg=hello n=1") {
		t.Errorf("--log-format text wrote %s", buf.String())
	}
	_, errOut, err := run(t, nil, "--log-format", "yaml", "version")
	if err == nil || !strings.Contains(errOut, `--log-format "yaml": use json or text`) {
		t.Errorf("an unknown log format: %v, %q", err, errOut)
	}
}
