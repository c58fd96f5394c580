package helm_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestImageMatchesChart reads the repository's Dockerfile (there is no image
// builder in the tests) and checks that the image it builds is one the chart
// can run: a numeric non-root user (Kubernetes' runAsNonRoot cannot check a
// user name) that is the chart's runAsUser, the binary the chart's args are
// given to, and the port of the chart's probes.
func TestImageMatchesChart(t *testing.T) {
	stages := readDockerfile(t, "../../Dockerfile")
	final := stages[len(stages)-1]
	d := one[appsv1.Deployment](t, mustRender(t, withSecret), "Deployment")
	c := hoistContainer(t, d)

	user, _, _ := strings.Cut(final.last("USER"), ":")
	uid, err := strconv.ParseInt(user, 10, 64)
	if err != nil || uid == 0 {
		t.Errorf("the image runs as user %q, want a numeric user other than 0", final.last("USER"))
	}
	switch runAs := d.Spec.Template.Spec.SecurityContext.RunAsUser; {
	case err != nil:
	case runAs == nil:
		t.Errorf("the chart names no user for the pod; the image's is %d", uid)
	case *runAs != uid:
		t.Errorf("the chart runs the pod as user %d, the image as %d", *runAs, uid)
	}

	var entrypoint, cmd []string
	if err := json.Unmarshal([]byte(final.last("ENTRYPOINT")), &entrypoint); err != nil || len(entrypoint) != 1 {
		t.Fatalf("ENTRYPOINT %s: want the exec form naming the binary alone, so that arguments reach it", final.last("ENTRYPOINT"))
	}
	if err := json.Unmarshal([]byte(final.last("CMD")), &cmd); err != nil || !slices.Equal(cmd, []string{"serve"}) {
		t.Errorf("CMD %s, want [\"serve\"]: the image runs `hoist serve` by default", final.last("CMD"))
	}
	if !slices.ContainsFunc(final.all("COPY"), func(args string) bool { return strings.HasSuffix(args, " "+entrypoint[0]) }) {
		t.Errorf("no COPY puts the binary at the ENTRYPOINT %s", entrypoint[0])
	}
	if len(c.Command) > 0 || len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("the chart runs command %q args %q, want the image's ENTRYPOINT with serve", c.Command, c.Args)
	}

	port := strconv.Itoa(int(containerPort(t, c, "http")))
	if !slices.Contains(strings.Fields(final.last("EXPOSE")), port) {
		t.Errorf("the image exposes %q, the chart's http port is %s", final.last("EXPOSE"), port)
	}
	if listen := final.env("HOIST_SERVER_LISTEN"); !strings.HasSuffix(listen, ":"+port) {
		t.Errorf("the image listens on %q, want port %s on every interface", listen, port)
	}
}

// TestImageBuildsWithTheModulesGo checks the build stage's Go image against
// go.mod's go line: an older Go refuses to build the module.
func TestImageBuildsWithTheModulesGo(t *testing.T) {
	stages := readDockerfile(t, "../../Dockerfile")
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(mod))
	if want == nil {
		t.Fatal("go.mod has no go line")
	}
	image := regexp.MustCompile(`^golang:(\d+)\.(\d+)`)
	for _, s := range stages {
		got := image.FindStringSubmatch(s.from)
		if got == nil {
			continue
		}
		if version(got[1], got[2]) < version(want[1], want[2]) {
			t.Errorf("stage FROM %s builds a module that needs Go %s.%s", s.from, want[1], want[2])
		}
		return
	}
	t.Error("no stage builds FROM a golang image")
}

func version(major, minor string) int {
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	return a*1000 + b
}

// stage is one FROM … section of a Dockerfile: its base image and its
// instructions, keyword upper case, arguments as written.
type stage struct {
	from         string
	instructions [][2]string
}

func (s stage) all(keyword string) []string {
	var out []string
	for _, in := range s.instructions {
		if in[0] == keyword {
			out = append(out, in[1])
		}
	}
	return out
}

func (s stage) last(keyword string) string {
	all := s.all(keyword)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

// env returns the value an ENV instruction (KEY=VALUE form) gives name.
func (s stage) env(name string) string {
	value := ""
	for _, args := range s.all("ENV") {
		for _, kv := range strings.Fields(args) {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				value = v
			}
		}
	}
	return value
}

// readDockerfile splits a Dockerfile into stages, joining continued lines
// and dropping comments.
func readDockerfile(t testing.TB, path string) []stage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var line strings.Builder
	for raw := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if rest, continued := strings.CutSuffix(trimmed, `\`); continued {
			line.WriteString(rest + " ")
			continue
		}
		line.WriteString(trimmed)
		keyword, args, _ := strings.Cut(strings.TrimSpace(line.String()), " ")
		line.Reset()
		keyword, args = strings.ToUpper(keyword), strings.TrimSpace(args)
		switch {
		case keyword == "":
		case keyword == "FROM":
			image, _, _ := strings.Cut(args, " ")
			stages = append(stages, stage{from: image})
		case len(stages) == 0:
			t.Fatalf("%s: %s before the first FROM", path, keyword)
		default:
			s := &stages[len(stages)-1]
			s.instructions = append(s.instructions, [2]string{keyword, args})
		}
	}
	if len(stages) == 0 {
		t.Fatalf("%s has no FROM", path)
	}
	return stages
}
