package app_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/hoistbot/hoist/internal/kubetest"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/githubsim"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/store"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// kubeHoist is Hoist wired to a real control plane and a Jenkins
// simulator whose builds deploy the app: each build applies the app's
// Deployment, with the image tag the build's commit or ref names, as a
// pipeline running `helm upgrade` would.
type kubeHoist struct {
	*hoist
	kube    *kubetest.Env
	jenkins *jenkinssim.Server
	st      store.Store
	app     string
}

// kubeSetup tunes a kubeHoist before it starts.
type kubeSetup struct {
	ttl            string
	rolloutTimeout string
	reapInterval   time.Duration
	// pods changes the pod template each build applies (labels that make
	// pods crash or never become ready, say).
	pods func(t *corev1.PodTemplateSpec)
	// deadline is the Deployment's progressDeadlineSeconds.
	deadline int32
	// github, when set, is where Hoist resolves refs to commits.
	github *githubsim.Server
}

func startKube(t *testing.T, setup kubeSetup) *kubeHoist {
	t.Helper()
	kube := kubetest.Cluster(t)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	k := &kubeHoist{kube: kube, app: fmt.Sprintf("k%x", suffix)}
	t.Cleanup(func() { k.deleteNamespaces(t) })

	job := jenkinssim.Job{Lines: 5, Duration: 300 * time.Millisecond, QueueWait: 50 * time.Millisecond,
		OnStart: func(p map[string]string) { k.deploy(t, p, setup) }}
	k.jenkins = jenkinssim.New(
		jenkinssim.WithJob(k.app+"/preview", job),
		jenkinssim.WithJob(k.app+"/staging", job),
	)
	t.Cleanup(k.jenkins.Close)

	path := filepath.Join(t.TempDir(), "hoist.yaml")
	if err := os.WriteFile(path, []byte(kubeConfigYAML(kube.Kubeconfig, k.app, setup)), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := []string{
		"HOIST_JENKINS_URL=" + k.jenkins.URL(),
		"HOIST_JENKINS_USER=" + jenkinssim.DefaultUser,
		"HOIST_JENKINS_TOKEN=" + jenkinssim.DefaultToken,
	}
	if setup.github != nil {
		setup.github.AddRepo("acme/"+k.app, "master")
		environ = append(environ, "HOIST_GITHUB_BASE_URL="+setup.github.URL(), "HOIST_GITHUB_TOKEN="+githubsim.DefaultToken)
	}
	k.hoist = launch(t, release.Ports{}, nil, func(h *hoist) {
		h.configFile = path
		h.reapInterval = setup.reapInterval
	}, environ...)
	k.secrets = append(k.secrets, jenkinssim.DefaultToken)
	k.st = k.openStore()
	return k
}

func kubeConfigYAML(kubeconfig, app string, s kubeSetup) string {
	ttl := s.ttl
	if ttl == "" {
		ttl = "1h"
	}
	timeout := s.rolloutTimeout
	if timeout == "" {
		timeout = "60s"
	}
	return fmt.Sprintf(`clusters:
  main:
    kubeconfig: %q
environments:
  staging:
    branch: latest
    cluster: main
    namespace: "{app}-staging"
    jenkins_job: "{app}/staging"
    rollout_timeout: %q
  test:
    branch: "*"
    cluster: main
    namespace: "{app}-{branch}"
    jenkins_job: "{app}/preview"
    ephemeral: true
    ttl: %q
    rollout_timeout: %q
apps:
  %s:
    repo: acme/%s
    deployment: web
    channel: %s
`, kubeconfig, timeout, ttl, timeout, app, app, appChannel)
}

// deploy is the pipeline's deploy step: it applies the app's Deployment
// in the build's namespace.
func (k *kubeHoist) deploy(t *testing.T, p map[string]string, setup kubeSetup) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tag := p["COMMIT"]
	if len(tag) > 7 {
		tag = tag[:7]
	}
	if tag == "" {
		tag = strings.ReplaceAll(p["REF"], "/", "-")
	}
	want := kubetest.Deployment("web", 2)
	want.Spec.Template.Spec.Containers[0].Image = "registry.test/web:" + tag
	if setup.pods != nil {
		setup.pods(&want.Spec.Template)
	}
	if setup.deadline > 0 {
		want.Spec.ProgressDeadlineSeconds = &setup.deadline
	}
	deployments := k.kube.Client.AppsV1().Deployments(p["NAMESPACE"])
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = deployments.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		d.Spec = want.Spec
		_, err = deployments.Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Errorf("pipeline deploy into %s: %v", p["NAMESPACE"], err)
	}
}

func (k *kubeHoist) namespace(t *testing.T, name string) (*corev1.Namespace, bool) {
	t.Helper()
	ns, err := k.kube.Client.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return ns, ns.DeletionTimestamp == nil
}

func (k *kubeHoist) deleteNamespaces(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := k.kube.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("list namespaces: %v", err)
		return
	}
	for _, ns := range list.Items {
		if strings.HasPrefix(ns.Name, k.app+"-") {
			_ = k.kube.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		}
	}
}

func (k *kubeHoist) wait(t *testing.T, id release.ID, want release.State) release.Release {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := k.st.GetRelease(context.Background(), id)
		if err == nil && r.State == want {
			return r
		}
		if err == nil && r.State.Terminal() {
			t.Fatalf("release #%d ended %s (%s); want %s", id, r.State, r.StateReason, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("release #%d is %s (%s); want %s", id, r.State, r.StateReason, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *kubeHoist) image(t *testing.T, namespace string) string {
	t.Helper()
	d, err := k.kube.Client.AppsV1().Deployments(namespace).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// rolloutMessages returns the texts of the live rollout messages in a
// release's thread.
func (k *kubeHoist) rolloutMessages(card string) []string {
	var out []string
	for _, text := range k.threadOf(card) {
		if strings.Contains(text, "rollout_") {
			out = append(out, text)
		}
	}
	return out
}

func TestEnvironmentsOnARealCluster(t *testing.T) {
	t.Parallel()
	k := startKube(t, kubeSetup{})
	ns := k.app + "-feature-login"

	if a := k.command(developer, "/env", "up "+k.app+" feature/login"); !strings.Contains(a.reply.Text, "Namespace `"+ns+"`") {
		t.Fatalf("env up: %+v", a.reply)
	}
	r := k.wait(t, 1, release.Succeeded)
	if !strings.Contains(r.StateReason, "rolled out in") {
		t.Errorf("reason = %q; want the rollout followed", r.StateReason)
	}
	got, ok := k.namespace(t, ns)
	if !ok {
		t.Fatalf("namespace %s not created", ns)
	}
	for key, want := range map[string]string{"app.kubernetes.io/managed-by": "hoist", "hoist.dev/app": k.app, "hoist.dev/branch": "feature-login"} {
		if got.Labels[key] != want {
			t.Errorf("label %s = %q; want %q", key, got.Labels[key], want)
		}
	}
	if got.Annotations["hoist.dev/owner"] != developer || got.Annotations["hoist.dev/release"] != "1" {
		t.Errorf("annotations = %v", got.Annotations)
	}
	firstExpiry, err := time.Parse(time.RFC3339, got.Annotations["hoist.dev/expires-at"])
	if err != nil || firstExpiry.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("expires-at %q (%v); want an hour from now", got.Annotations["hoist.dev/expires-at"], err)
	}
	if img := k.image(t, ns); img != "registry.test/web:feature-login" {
		t.Errorf("image = %q", img)
	}
	k.eventually(t, "the rollout message to show the outcome", func() bool {
		msgs := k.rolloutMessages(r.MessageTS)
		return len(msgs) == 1 && strings.Contains(msgs[0], "Rolled out `web` in `"+ns+"`") && strings.Contains(msgs[0], "2/2 updated")
	})

	t.Run("env up again keeps the namespace and extends it", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond) // expiry is kept to the second
		k.command(developer, "/env", "up "+k.app+" feature/login")
		k.wait(t, 2, release.Succeeded)
		again, _ := k.namespace(t, ns)
		later, _ := time.Parse(time.RFC3339, again.Annotations["hoist.dev/expires-at"])
		if !later.After(firstExpiry) || again.UID != got.UID || again.Annotations["hoist.dev/release"] != "2" {
			t.Errorf("after a second env up: uid %s→%s, expiry %v→%v, release %s", got.UID, again.UID, firstExpiry, later, again.Annotations["hoist.dev/release"])
		}
	})

	t.Run("a stranger cannot take it down", func(t *testing.T) {
		a := k.command("USTRANGER", "/env", "down "+k.app+" feature/login")
		if !strings.Contains(a.reply.Text, "belongs to <@"+developer+">") {
			t.Errorf("stranger env down: %q", a.reply.Text)
		}
		if _, ok := k.namespace(t, ns); !ok {
			t.Error("namespace gone after a refused env down")
		}
	})

	t.Run("a namespace Hoist did not create is left alone", func(t *testing.T) {
		foreign := k.app + "-feature-foreign"
		_, err := k.kube.Client.CoreV1().Namespaces().Create(context.Background(),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: foreign, Labels: map[string]string{"team": "payments"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		k.command(developer, "/env", "up "+k.app+" feature/foreign")
		r := k.wait(t, 3, release.Failed)
		if !strings.Contains(r.StateReason, "already exists in cluster main and Hoist did not create it") {
			t.Errorf("reason = %q", r.StateReason)
		}
		after, ok := k.namespace(t, foreign)
		if !ok || after.Labels["app.kubernetes.io/managed-by"] != "" || len(after.Annotations) != 0 {
			t.Errorf("foreign namespace changed: %+v", after)
		}
		if n := len(k.jenkins.Builds(k.app + "/preview")); n != 2 {
			t.Errorf("builds = %d; nothing may be deployed into a foreign namespace", n)
		}
	})

	t.Run("env down of a namespace taken over by someone else is refused", func(t *testing.T) {
		k.command(developer, "/env", "up "+k.app+" feature/other")
		k.wait(t, 4, release.Succeeded)
		other := k.app + "-feature-other"
		patch := []byte(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"argocd"}}}`)
		if _, err := k.kube.Client.CoreV1().Namespaces().Patch(context.Background(), other, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		k.command(developer, "/env", "down "+k.app+" feature/other")
		r := k.wait(t, 5, release.Failed)
		if !strings.Contains(r.StateReason, "was not created by Hoist") {
			t.Errorf("reason = %q", r.StateReason)
		}
		if _, ok := k.namespace(t, other); !ok {
			t.Error("Hoist deleted a namespace it does not manage")
		}
	})

	t.Run("the owner takes it down", func(t *testing.T) {
		k.command(developer, "/env", "down "+k.app+" feature/login")
		r := k.wait(t, 6, release.Succeeded)
		if !strings.Contains(r.StateReason, "namespace `"+ns+"` deleted") {
			t.Errorf("reason = %q", r.StateReason)
		}
		if _, live := k.namespace(t, ns); live {
			t.Error("namespace still live after env down")
		}
		if a := k.command(developer, "/env", "list "+k.app); strings.Contains(a.reply.Text, "feature/login") {
			t.Errorf("env list after down: %q", a.reply.Text)
		}
	})
}

func TestReaperOnARealCluster(t *testing.T) {
	t.Parallel()
	k := startKube(t, kubeSetup{ttl: "4s", reapInterval: 200 * time.Millisecond})
	ns := k.app + "-feature-short"
	k.command(developer, "/env", "up "+k.app+" feature/short")
	k.wait(t, 1, release.Succeeded)
	r := k.wait(t, 2, release.Succeeded)
	if r.Kind != release.KindEnvDown || r.RequestedBy != release.ActorHoist || !strings.HasPrefix(r.Reason, "expired ") {
		t.Errorf("release #2 = %+v; want Hoist taking the expired environment down", r)
	}
	if _, live := k.namespace(t, ns); live {
		t.Error("expired namespace still live")
	}
	card := k.waitMessage("Requested by Hoist")
	if card.Channel != appChannel {
		t.Errorf("teardown card in %s; want the app's channel %s", card.Channel, appChannel)
	}
}

func TestRolloutFailuresOnARealCluster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		label string
		want  []string
	}{
		{"progress deadline exceeded", kubetest.LabelNeverReady, []string{"progress deadline"}},
		{"crashing pod", kubetest.LabelCrash, []string{"progress deadline", "CrashLoopBackOff", "web-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := startKube(t, kubeSetup{deadline: 4, pods: func(p *corev1.PodTemplateSpec) { p.Labels[tc.label] = "true" }})
			k.command(developer, "/env", "up "+k.app+" feature/bad")
			r := k.wait(t, 1, release.Failed)
			for _, want := range tc.want {
				if !strings.Contains(r.StateReason, want) {
					t.Errorf("reason = %q; want %q", r.StateReason, want)
				}
			}
			k.eventually(t, "the rollout message to show the failure", func() bool {
				msgs := k.rolloutMessages(r.MessageTS)
				return len(msgs) == 1 && strings.Contains(msgs[0], "failed after")
			})
			if tc.label == kubetest.LabelCrash {
				if msg := k.rolloutMessages(r.MessageTS)[0]; !strings.Contains(msg, "⚠️") || !strings.Contains(msg, "CrashLoopBackOff") {
					t.Errorf("rollout message does not name the stuck pod: %s", msg)
				}
			}
		})
	}
}

func TestRestartWhileFollowingARollout(t *testing.T) {
	t.Parallel()
	k := startKube(t, kubeSetup{deadline: 600, pods: func(p *corev1.PodTemplateSpec) { p.Labels[kubetest.LabelNeverReady] = "true" }})
	ns := k.app + "-feature-slow"
	k.command(developer, "/env", "up "+k.app+" feature/slow")
	k.eventually(t, "the rollout to be followed", func() bool {
		r, err := k.st.GetRelease(context.Background(), 1)
		return err == nil && r.State == release.RollingOut && len(k.rolloutMessages(r.MessageTS)) == 1
	})
	k.stop()

	// The pods get ready while no Hoist is running: a fixed readiness
	// probe, as far as the Deployment can tell.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := k.kube.Client.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		delete(d.Spec.Template.Labels, kubetest.LabelNeverReady)
		_, err = k.kube.Client.AppsV1().Deployments(ns).Update(context.Background(), d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	k.run()
	r := k.wait(t, 1, release.Succeeded)
	defer func() {
		if t.Failed() {
			for _, m := range k.threadOf(r.MessageTS) {
				t.Logf("thread: %s", m)
			}
		}
	}()
	k.eventually(t, "the one rollout message to show the outcome", func() bool {
		msgs := k.rolloutMessages(r.MessageTS)
		return len(msgs) == 1 && strings.Contains(msgs[0], "Rolled out")
	})
	if n := len(k.jenkins.Builds(k.app + "/preview")); n != 1 {
		t.Errorf("builds = %d; a restart must not build again", n)
	}
}

func TestRollbackOnARealCluster(t *testing.T) {
	t.Parallel()
	gh := githubsim.New()
	t.Cleanup(gh.Close)
	k := startKube(t, kubeSetup{github: gh})
	repo := "acme/" + k.app
	ns := k.app + "-staging"
	if _, err := k.kube.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if a := k.command(developer, "/rollback", k.app+" staging"); !strings.Contains(a.reply.Text, "has no successful release in *staging* yet") {
		t.Errorf("rollback with nothing released: %q", a.reply.Text)
	}

	gh.AddBranch(repo, "latest", "master")
	first := gh.Commit(repo, "latest", "Cart in one query", map[string]string{"cart.go": "v1"})
	k.command(developer, "/deploy", k.app+" latest")
	k.wait(t, 1, release.Succeeded)
	second := gh.Commit(repo, "latest", "Cart with a cache", map[string]string{"cart.go": "v2"})
	k.command(developer, "/deploy", k.app+" latest")
	k.wait(t, 2, release.Succeeded)
	if img := k.image(t, ns); img != "registry.test/web:"+second[:7] {
		t.Fatalf("image after the second deploy = %q; want %s", img, second[:7])
	}

	if a := k.command(developer, "/rollback", k.app+" staging"); !strings.Contains(a.reply.Text, "Release #3 requested: roll back *staging*") {
		t.Fatalf("rollback: %q", a.reply.Text)
	}
	r := k.wait(t, 3, release.Succeeded)
	if r.Kind != release.KindRollback || r.Commit != first {
		t.Errorf("rollback release = %s of %s; want a rollback to %s", r.Kind, r.Commit, first)
	}
	if !strings.Contains(r.StateReason, "rolled out in") {
		t.Errorf("reason = %q; want the rollout followed", r.StateReason)
	}
	builds := k.jenkins.Builds(k.app + "/staging")
	if last := builds[len(builds)-1]; len(builds) != 3 || last.Params["COMMIT"] != first {
		t.Errorf("builds = %d, the last with COMMIT %q; want the pipeline re-run with %s", len(builds), last.Params["COMMIT"], first)
	}
	if img := k.image(t, ns); img != "registry.test/web:"+first[:7] {
		t.Errorf("image after the rollback = %q; want %s", img, first[:7])
	}
}
