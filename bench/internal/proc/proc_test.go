package proc

import "testing"

func TestParseStatus(t *testing.T) {
	status := "Name:\thoist\nUmask:\t0022\nVmPeak:\t 1263120 kB\nVmRSS:\t   40964 kB\nRssAnon:\t    6508 kB\nRssFile:\t   34456 kB\nRssShmem:\t       0 kB\n"
	got, err := ParseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Memory{RSS: 40964 * 1024, Anon: 6508 * 1024, File: 34456 * 1024}); got != want {
		t.Errorf("ParseStatus = %+v, want %+v", got, want)
	}
}

func TestParseStatusRefusesWhatItCannotRead(t *testing.T) {
	for name, status := range map[string]string{
		"kernel thread": "Name:\tkthreadd\nState:\tS (sleeping)\n",
		"no RssFile":    "VmRSS:\t 23 kB\nRssAnon:\t 20 kB\n",
		"other unit":    "VmRSS:\t 23 MB\nRssAnon:\t 20 kB\nRssFile:\t 3 kB\n",
		"not a number":  "VmRSS:\t many kB\nRssAnon:\t 20 kB\nRssFile:\t 3 kB\n",
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := ParseStatus([]byte(status)); err == nil {
				t.Errorf("ParseStatus = %+v, want an error", got)
			}
		})
	}
}

func TestServingAddr(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{`{"time":"2025-01-01T00:00:00Z","level":"INFO","msg":"hoist serving","addr":"127.0.0.1:41234","store":"sqlite"}`, "127.0.0.1:41234", true},
		{`{"level":"INFO","msg":"store opened","path":"x.db"}`, "", false},
		{`{"msg":"hoist serving"}`, "", false},
		{`time=2025-01-01 msg="hoist serving" addr=127.0.0.1:1`, "", false},
	} {
		got, ok := ServingAddr([]byte(tc.line), "hoist serving")
		if got != tc.want || ok != tc.ok {
			t.Errorf("ServingAddr(%s) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
