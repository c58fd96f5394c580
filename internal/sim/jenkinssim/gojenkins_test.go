package jenkinssim

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bndr/gojenkins"
)

// newGojenkins starts a Server whose root URL is its own address, which
// gojenkins needs for Job.GetBuild (see TestGojenkinsRootURLMismatch), and
// connects gojenkins to it.
func newGojenkins(t *testing.T, opts ...Option) (*Server, *gojenkins.Jenkins) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, append([]Option{WithListener(ln), WithRootURL("http://" + ln.Addr().String() + "/")}, opts...)...)
	j, err := gojenkins.CreateJenkins(&http.Client{Timeout: 10 * time.Second}, s.URL(), DefaultUser, DefaultToken).Init(context.Background())
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return s, j
}

// pollExecutable polls a queue item the way gojenkins users do until it has
// an executable.
func pollExecutable(ctx context.Context, t *testing.T, j *gojenkins.Jenkins, id int64) *gojenkins.Task {
	t.Helper()
	task, err := j.GetQueueItem(ctx, id)
	if err != nil {
		t.Fatalf("GetQueueItem(%d): %v", id, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for task.Raw.Executable.Number == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("queue item %d never started: %+v", id, task.Raw)
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := task.Poll(ctx); err != nil {
			t.Fatalf("poll: %v", err)
		}
	}
	return task
}

func TestGojenkinsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, j := newGojenkins(t, WithJob("app", Job{Lines: 30, Duration: 600 * time.Millisecond}), WithJob("team/api", Job{Lines: 5, Duration: 100 * time.Millisecond}))
	if j.Version != Version {
		t.Errorf("Version = %q", j.Version)
	}

	job, err := j.GetJob(ctx, "app")
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	defs, err := job.GetParameters(ctx)
	if err != nil {
		t.Fatalf("GetParameters: %v", err)
	}
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
	}
	if !slices.Equal(names, []string{"APP", "REF", "COMMIT", "ENVIRONMENT", "NAMESPACE", "RELEASE_ID", "REQUESTED_BY"}) {
		t.Errorf("parameters = %v", names)
	}

	id, err := j.BuildJob(ctx, "app", map[string]string{"APP": "shop", "REF": "v1.2.3", "RELEASE_ID": "r-42"})
	if err != nil || id != DefaultFirstQueueID {
		t.Fatalf("BuildJob = %d, %v", id, err)
	}
	task := pollExecutable(ctx, t, j, id)
	if got := task.GetParameters(); len(got) != 7 || got[0].Name != "APP" || got[0].Value != "shop" {
		t.Errorf("task parameters = %v", got)
	}
	build, err := job.GetBuild(ctx, task.Raw.Executable.Number)
	if err != nil {
		t.Fatalf("GetBuild: %v", err)
	}
	if !build.IsRunning(ctx) {
		t.Error("build not running right after it started")
	}
	params := map[string]any{}
	for _, p := range build.GetParameters() {
		params[p.Name] = p.Value
	}
	if params["APP"] != "shop" || params["REF"] != "v1.2.3" || params["RELEASE_ID"] != "r-42" {
		t.Errorf("build parameters = %v", params)
	}

	var log strings.Builder
	var off int64
	calls := 0
	for {
		resp, err := build.GetConsoleOutputFromIndex(ctx, off)
		if err != nil {
			t.Fatalf("GetConsoleOutputFromIndex(%d): %v", off, err)
		}
		calls++
		log.WriteString(resp.Content)
		off = resp.Offset
		if !resp.HasMoreText {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if calls < 3 || off != int64(log.Len()) {
		t.Errorf("%d calls, offset %d for %d bytes", calls, off, log.Len())
	}
	if s.LogBytesServed() != int64(log.Len()) {
		t.Errorf("LogBytesServed %d for a %d byte log read incrementally", s.LogBytesServed(), log.Len())
	}
	if whole := build.GetConsoleOutput(ctx); whole != log.String() || !strings.HasSuffix(whole, "Finished: SUCCESS\n") {
		t.Errorf("GetConsoleOutput differs from the progressive log:\n%s\n---\n%s", whole, log.String())
	}
	if !build.IsGood(ctx) || build.GetResult() != ResultSuccess {
		t.Errorf("result = %q", build.GetResult())
	}
	if d := build.GetDuration(); d != 600 {
		t.Errorf("duration = %v ms", d)
	}

	// Folders.
	sub, err := j.GetJob(ctx, "api", "team")
	if err != nil || sub.Raw.FullName != "team/api" || sub.Raw.Class != ClassWorkflowJob {
		t.Fatalf("GetJob in folder: %v %+v", err, sub)
	}
	folder, err := j.GetFolder(ctx, "team")
	if err != nil || len(folder.Raw.Jobs) != 1 || folder.Raw.Jobs[0].Name != "api" {
		t.Fatalf("GetFolder: %v %+v", err, folder)
	}
	obj := j.GetJobObj(ctx, "team/job/api")
	id2, err := obj.InvokeSimple(ctx, map[string]string{"APP": "api"})
	if err != nil || id2 != id+1 {
		t.Fatalf("InvokeSimple in folder = %d, %v", id2, err)
	}
	task2 := pollExecutable(ctx, t, j, id2)
	b2, err := sub.GetBuild(ctx, task2.Raw.Executable.Number)
	if err != nil {
		t.Fatalf("GetBuild in folder: %v", err)
	}
	if b2.Raw.FullDisplayName != "team » api #1" {
		t.Errorf("fullDisplayName = %q", b2.Raw.FullDisplayName)
	}

	q, err := j.GetQueue(ctx)
	if err != nil || len(q.Tasks()) != 0 {
		t.Errorf("GetQueue: %v, %d tasks", err, len(q.Tasks()))
	}
	all, err := j.GetAllJobNames(ctx)
	if err != nil || len(all) != 2 {
		t.Errorf("GetAllJobNames: %v %v", all, err)
	}
}

// TestGojenkinsQuirks pins down how gojenkins v1.2.0 behaves against
// Jenkins' real answers, which the Hoist integration has to work around.
func TestGojenkinsQuirks(t *testing.T) {
	ctx := context.Background()
	s, j := newGojenkins(t, WithJob("app", Job{QueueWait: time.Hour}), WithJob("run", Job{QueueWait: -1, Duration: time.Hour}))

	// InvokeSimple refuses to trigger while the job has an item in the
	// queue ("already running"), returning 0 and no error.
	first, err := j.BuildJob(ctx, "app", nil)
	if err != nil || first == 0 {
		t.Fatalf("first BuildJob = %d, %v", first, err)
	}
	second, err := j.BuildJob(ctx, "app", nil)
	if err != nil || second != 0 {
		t.Errorf("second BuildJob while queued = %d, %v; gojenkins should refuse with 0", second, err)
	}

	// Task.Cancel reports false on Jenkins' 204 No Content, though the
	// item is cancelled.
	task, err := j.GetQueueItem(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := task.Cancel(ctx)
	if ok || err != nil {
		t.Errorf("Cancel = %v, %v; expected gojenkins to report false on 204", ok, err)
	}
	if it, _ := s.QueueItem(first); !it.Cancelled {
		t.Errorf("item not cancelled: %+v", it)
	}
	if _, err := task.Poll(ctx); err != nil || !strings.HasSuffix(task.Raw.URL, "/") || task.Raw.Executable.Number != 0 {
		t.Errorf("cancelled task: %v %+v", err, task.Raw)
	}

	// Build.Stop follows Jenkins' 302 to the build's HTML page and fails
	// to decode it as JSON, though the build is aborted.
	id, err := j.BuildJob(ctx, "run", nil)
	if err != nil {
		t.Fatal(err)
	}
	build, err := j.GetBuild(ctx, "run", int64(waitBuild(t, s, id)))
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := build.Stop(ctx)
	if stopped || err == nil {
		t.Errorf("Stop = %v, %v; expected a JSON decode error from the redirect's HTML", stopped, err)
	}
	if b := s.Builds("run")[0]; b.Result != ResultAborted {
		t.Errorf("build after Stop: %+v", b)
	}

	// With Jenkins unreachable, Build.Stop reports success (IsRunning is
	// false on any error), and Task.Cancel panics: Requester.SetCrumb
	// dereferences the nil response of the failed crumb request.
	id2, err := j.BuildJob(ctx, "run", nil)
	if err != nil {
		t.Fatal(err)
	}
	running, err := j.GetBuild(ctx, "run", int64(waitBuild(t, s, id2)))
	if err != nil {
		t.Fatal(err)
	}
	queued, err := j.BuildJob(ctx, "app", nil)
	if err != nil || queued == 0 {
		t.Fatalf("BuildJob = %d, %v", queued, err)
	}
	task, err = j.GetQueueItem(ctx, queued)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if ok, err := running.Stop(ctx); !ok || err != nil {
		t.Errorf("Stop while unreachable = %v, %v; expected gojenkins to claim success", ok, err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Task.Cancel while unreachable did not panic")
			}
		}()
		_, _ = task.Cancel(ctx)
	}()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if b := s.Builds("run")[1]; !b.Building {
		t.Errorf("build stopped though Jenkins was unreachable: %+v", b)
	}
}

// TestGojenkinsRootURLMismatch shows that Job.GetBuild cannot be used when
// Jenkins' root URL differs from the address it is reached at (it splices
// the job's "url" field into the request URL), and that building the Build
// by hand works.
func TestGojenkinsRootURLMismatch(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, WithJob("app", Job{QueueWait: -1, Duration: 50 * time.Millisecond, Lines: 2}))
	j, err := gojenkins.CreateJenkins(&http.Client{Timeout: 10 * time.Second}, s.URL(), DefaultUser, DefaultToken).Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := j.BuildJob(ctx, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	n := waitBuild(t, s, id)
	job, err := j.GetJob(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.GetBuild(ctx, int64(n)); err == nil {
		t.Error("Job.GetBuild worked with a root URL that differs from the address")
	}
	b := &gojenkins.Build{Jenkins: j, Job: job, Raw: new(gojenkins.BuildResponse), Base: "/job/app/1", Depth: 1}
	if status, err := b.Poll(ctx); err != nil || status != http.StatusOK || b.Raw.URL != s.RootURL()+"job/app/1/" {
		t.Errorf("hand-made Build: %d %v %q", status, err, b.Raw.URL)
	}
	waitDone(t, s, "app", n)
	if out := b.GetConsoleOutput(ctx); !strings.HasSuffix(out, "Finished: SUCCESS\n") {
		t.Errorf("console = %q", out)
	}
}
