package demo_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hoistbot/hoist/internal/demo"
)

// chromium finds Debian's Chromium. Without it the browser test skips,
// unless HOIST_TEST_BROWSER=1 (as in CI) makes its absence a failure.
func chromium(t *testing.T) string {
	t.Helper()
	required := os.Getenv("HOIST_TEST_BROWSER") == "1"
	if testing.Short() && !required {
		t.Skip("the browser test takes a few seconds; it runs without -short or with HOIST_TEST_BROWSER=1")
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if required {
		t.Fatal("HOIST_TEST_BROWSER=1 but Chromium is missing: apt-get install -y chromium")
	}
	t.Skip("install chromium: apt-get install -y chromium")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile, for one test.
func newBrowser(t *testing.T, execPath string) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "hoist-browser-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1360, 1200),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTime := context.WithTimeout(ctx, 50*time.Second)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		// Chromium's helpers may still write there for a moment after it stops.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return ctx
}

// artifactsDir is where the test leaves screenshots: $HOIST_TEST_ARTIFACTS,
// else testdata/out (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOIST_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "out")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactsDir(t), name)
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Errorf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// waitUntil waits until the JavaScript expression is true on the page.
func waitUntil(ctx context.Context, t *testing.T, what, expression string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expression, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second))); err != nil {
		t.Fatalf("the page never showed %s: %v", what, err)
	}
}

func do(ctx context.Context, t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// shows is a JavaScript test: does a visible message (of the shown
// channel, thread replies included) matching selector contain text?
func shows(selector, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%q)].some((m) => m.offsetParent !== null && m.textContent.includes(%q))`,
		".pane:not([hidden]) "+selector, text)
}

// TestBrowserWalkthrough is the README's tour in headless Chromium: the
// developer deploys to production and cannot approve; the admin can; the
// build log streams into the thread, the rollout follows it there, and the
// release ends succeeded. It runs on the simulated cluster.
func TestBrowserWalkthrough(t *testing.T) {
	execPath := chromium(t)
	base := startDemo(t, 4*time.Second)
	ctx := newBrowser(t, execPath)
	defer func() {
		if t.Failed() {
			screenshot(ctx, t, "browser-walkthrough-failed.png")
		}
	}()

	do(ctx, t, "open the page", chromedp.Navigate(base+"/?as=dave"))
	waitUntil(ctx, t, "the workspace", `document.body.dataset.ready === "true" && document.querySelector(".person.current").dataset.user === "`+demo.DeveloperID+`"`)

	do(ctx, t, "type a deploy", chromedp.SendKeys(chromedp.CSS("#composer-input"), "/deploy demo master\r"))
	waitUntil(ctx, t, "Hoist's reply to Dave", shows(".msg-ephemeral", "Release #1 requested"))
	waitUntil(ctx, t, "the release card", shows(".msg-message", "Awaiting approval")+` && document.querySelector('button[data-action-id="hoist_approve"]') !== null`)

	// Deny asks first; Keep leaves the release alone.
	do(ctx, t, "open Deny's confirmation", chromedp.Click(chromedp.CSS(`button[data-action-id="hoist_deny"]`)))
	waitUntil(ctx, t, "the confirmation dialog", `document.querySelector("dialog.bk-confirm").open && document.querySelector("dialog.bk-confirm").textContent.includes("Deny release #1?")`)
	do(ctx, t, "keep the release", chromedp.Click(chromedp.CSS(`dialog.bk-confirm button[value="cancel"]`)))
	waitUntil(ctx, t, "the dialog closed", `!document.querySelector("dialog.bk-confirm").open`)

	do(ctx, t, "approve as Dave", chromedp.Click(chromedp.CSS(`button[data-action-id="hoist_approve"]`)))
	waitUntil(ctx, t, "the refusal", shows(".msg-ephemeral", "Only admins can approve"))
	waitUntil(ctx, t, "the card still awaiting approval", shows(".msg-message", "Awaiting approval"))
	screenshot(ctx, t, "browser-refused.png")

	do(ctx, t, "become Ana", chromedp.Click(chromedp.CSS(`.person[data-user="`+demo.AdminID+`"]`)))
	waitUntil(ctx, t, "Ana's view, without Dave's replies", `document.querySelector(".person.current").dataset.user === "`+demo.AdminID+`" && !(`+shows(".msg-ephemeral", "Only admins")+`)`)
	do(ctx, t, "approve as Ana", chromedp.Click(chromedp.CSS(`button[data-action-id="hoist_approve"]`)))
	waitUntil(ctx, t, "the approval", shows(".msg-ephemeral", "Release #1 approved."))

	waitUntil(ctx, t, "the build running, its log streaming in the thread", shows(".thread .msg", "running")+" && "+shows(".thread .msg", "[Pipeline]"))
	waitUntil(ctx, t, "the build message updated in place", `(() => {
		const builds = [...document.querySelectorAll(".pane:not([hidden]) .thread .msg-message")].filter((m) => m.textContent.includes("Build #"));
		return builds.length === 1 && Number(builds[0].dataset.edits) >= 2;
	})()`)
	waitUntil(ctx, t, "the build's success", shows(".thread .msg", "Finished: SUCCESS"))
	waitUntil(ctx, t, "the rollout rolled out in the thread", shows(".thread .msg", "Rolled out demo in demo-production")+" && "+shows(".thread .msg", "3/3 updated"))
	waitUntil(ctx, t, "the release succeeded", shows(".msg-message", "Succeeded"))
	waitUntil(ctx, t, "the uploaded log", shows(".thread .file-card", ".log"))
	do(ctx, t, "show the card", chromedp.ScrollIntoView(chromedp.CSS(".pane:not([hidden]) .msg-message")))
	screenshot(ctx, t, "browser-walkthrough.png")

	do(ctx, t, "open the uploaded log", chromedp.Click(chromedp.CSS(".thread .file-view")))
	waitUntil(ctx, t, "the log's content", `document.getElementById("file-viewer").open && document.getElementById("file-viewer-content").textContent.includes("Finished: SUCCESS")`)
	do(ctx, t, "close the log", chromedp.Click(chromedp.CSS(`#file-viewer button[value="close"]`)))

	// #releases has the announcements; their link leads back to the card.
	do(ctx, t, "open #releases", chromedp.Click(chromedp.CSS(`.sidebar-channel[data-channel="`+demo.ReleasesID+`"]`)))
	waitUntil(ctx, t, "the outcome's announcement", shows(".msg-message", "Release #1 succeeded"))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const links = [...document.querySelectorAll(".pane:not([hidden]) a.bk-link")].filter((a) => a.textContent === "Open the release");
		links[links.length - 1].click();
		return true;
	})()`)); err != nil {
		t.Fatalf("follow the link to the release: %v", err)
	}
	waitUntil(ctx, t, "the card, highlighted in #deploys", `document.getElementById("channel-name").textContent === "# deploys" && document.querySelector(".pane:not([hidden]) .msg.highlight") !== null`)
}
