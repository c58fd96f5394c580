package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
)

// appName is the demo app, as demo.yaml names it; its Deployment has the
// same name.
const appName = "demo"

// appImage is the image the demo app's pipelines push, tagged tag.
func appImage(tag string) string { return "registry.example.com/" + appName + ":" + tag }

// earlierReleases are the Deployments that the demo app's long-lived
// environments run when the demo starts, as earlier releases left them.
func earlierReleases() []appDeployment {
	var out []appDeployment
	for _, env := range []string{"staging", "production"} {
		out = append(out, appDeployment{namespace: appName + "-" + env, name: appName, image: appImage(fakeCommit(env, 0))})
	}
	return out
}

// checkout is the commit a build checks out, as its log shows it.
type checkout struct {
	sha   string // short
	title string
}

// checkouts remembers the commit of each build, by job path and build
// number, from its start on.
type checkouts struct {
	mu      sync.Mutex
	byBuild map[string]checkout
}

func newCheckouts() *checkouts { return &checkouts{byBuild: map[string]checkout{}} }

func (c *checkouts) set(job string, build int, co checkout) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byBuild[job+"#"+strconv.Itoa(build)] = co
}

// get returns the build's commit: a made-up one for a build that names
// none, and for the lines printed before the build's start was seen (the
// first lines of a very short build).
func (c *checkouts) get(job string, build int) checkout {
	c.mu.Lock()
	defer c.mu.Unlock()
	if co, ok := c.byBuild[job+"#"+strconv.Itoa(build)]; ok {
		return co
	}
	return checkout{sha: fakeCommit(path.Base(job), build), title: "Show the release notes on the login page"}
}

// jobs are the demo app's Jenkins pipelines, keyed by job path, as the
// environments' jenkins_job templates name them. Each build prints a
// realistic pipeline log over buildTime, with the commit that commits has
// for it. When a build starts, deploy is called with the job's path, the
// build's parameters, and when its log reaches `helm upgrade`, counted from
// the build's start.
func jobs(buildTime time.Duration, commits *checkouts, deploy func(job string, params map[string]string, at time.Duration)) map[string]jenkinssim.Job {
	out := map[string]jenkinssim.Job{}
	for env, stages := range map[string][]string{
		"preview":    pipeline(""),
		"staging":    pipeline(appName + "-staging"),
		"production": pipeline(appName + "-production"),
	} {
		path := appName + "/" + env
		// Line i is printed at i/len(stages) of the build.
		deployAt := time.Duration(slices.IndexFunc(stages, isDeployLine)) * buildTime / time.Duration(len(stages))
		out[path] = jenkinssim.Job{
			Lines:    len(stages),
			Duration: buildTime,
			// Jenkins estimates from earlier builds; the demo's first
			// builds get a progress bar too.
			Estimated: buildTime,
			QueueWait: 300 * time.Millisecond,
			LineText: func(build, line int) string {
				co := commits.get(path, build)
				return strings.NewReplacer("$COMMIT", co.sha, "$TITLE", co.title).Replace(stages[line])
			},
			OnStart: func(params map[string]string) { deploy(path, params, deployAt) },
		}
	}
	return out
}

func isDeployLine(line string) bool { return strings.HasPrefix(line, "+ helm upgrade") }

// fakeCommit is a short SHA that stays the same for one build.
func fakeCommit(env string, build int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", env, build)))
	return hex.EncodeToString(sum[:])[:7]
}

// pipeline is the console log of one run of the demo app's Jenkinsfile:
// checkout, tests, image, and deploy with helm into namespace (the job's
// NAMESPACE parameter when ""). Hoist follows the rollout from there.
func pipeline(namespace string) []string {
	helm := "+ helm upgrade --install demo ./chart --namespace " + namespace + " --set image.tag=$COMMIT"
	if namespace == "" {
		helm = "+ helm upgrade --install demo ./chart --namespace \"$NAMESPACE\" --set image.tag=$COMMIT"
	}
	return []string{
		"Started by user hoist",
		"[Pipeline] Start of Pipeline",
		"[Pipeline] node",
		"Running on agent-linux-2 in /home/jenkins/workspace/demo",
		"[Pipeline] {",
		"[Pipeline] stage",
		"[Pipeline] { (Checkout)",
		"+ git fetch --no-tags --depth=1 origin +refs/heads/*:refs/remotes/origin/*",
		"+ git checkout -f $COMMIT",
		"HEAD is now at $COMMIT $TITLE",
		"[Pipeline] }",
		"[Pipeline] stage",
		"[Pipeline] { (Test)",
		"+ npm ci --no-audit",
		"added 812 packages in 7s",
		"+ npm test -- --ci",
		"PASS src/login/LoginForm.test.tsx (3.1 s)",
		"PASS src/release-notes/Notes.test.tsx",
		"PASS src/api/client.test.ts",
		"Test Suites: 14 passed, 14 total",
		"Tests:       96 passed, 96 total",
		"+ go test -race ./...",
		"ok  \tgithub.com/hoistbot/demo/internal/auth\t1.412s",
		"ok  \tgithub.com/hoistbot/demo/internal/notes\t0.733s",
		"ok  \tgithub.com/hoistbot/demo/internal/server\t2.087s",
		"[Pipeline] }",
		"[Pipeline] stage",
		"[Pipeline] { (Image)",
		"+ docker build -t registry.example.com/demo:$COMMIT .",
		"#1 [internal] load build definition from Dockerfile",
		"#6 [web 3/4] RUN npm run build",
		"#6 2.913 vite v5.4.2 building for production...",
		"#6 6.208 ✓ 231 modules transformed.",
		"#9 [build 4/5] RUN go build -trimpath -o /out/demo ./cmd/demo",
		"#12 exporting to image",
		"#12 writing image sha256:4c1e0f7b9a2d done",
		"+ docker push registry.example.com/demo:$COMMIT",
		"The push refers to repository [registry.example.com/demo]",
		"$COMMIT: digest: sha256:9f86d081884c7d65 size: 1784",
		"[Pipeline] }",
		"[Pipeline] stage",
		"[Pipeline] { (Deploy)",
		helm,
		"Release \"demo\" has been upgraded. Happy Helming!",
		"STATUS: deployed",
		"[Pipeline] }",
		"[Pipeline] // node",
		"[Pipeline] End of Pipeline",
	}
}
