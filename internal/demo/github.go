package demo

import "github.com/hoistbot/hoist/internal/sim/githubsim"

// demoRepo is the demo app's repository, as demo.yaml names it.
const demoRepo = "acme/demo"

// startGitHub starts the GitHub simulator with the demo app's repository:
// master, which production runs; latest, staging's branch, two commits
// ahead of it; and feature/login, a developer's branch one commit ahead of
// latest.
func startGitHub(token string) *githubsim.Server {
	gh := githubsim.New(githubsim.WithToken(token))
	gh.AddRepo(demoRepo, "master")
	gh.Commit(demoRepo, "master", "Serve the health check at /healthz", map[string]string{"internal/server/health.go": "package server\n"})
	gh.Commit(demoRepo, "master", "Add the release notes page", map[string]string{"web/src/release-notes/Notes.tsx": "export {}\n"})
	gh.AddBranch(demoRepo, "latest", "master")
	gh.Commit(demoRepo, "latest", "Show the release notes on the login page", map[string]string{"web/src/login/LoginForm.tsx": "export {}\n"})
	gh.Commit(demoRepo, "latest", "Fix the redirect after logout", map[string]string{"internal/auth/logout.go": "package auth\n"})
	gh.AddBranch(demoRepo, "feature/login", "latest")
	gh.Commit(demoRepo, "feature/login", "Log in with a magic link", map[string]string{"internal/auth/magic.go": "package auth\n"})
	return gh
}

// commitTitle is the title of the commit sha of the demo app, or "" when
// GitHub does not know it.
func commitTitle(gh *githubsim.Server, sha string) string {
	c, ok := gh.CommitInfo(demoRepo, sha)
	if !ok {
		return ""
	}
	return c.Title()
}
