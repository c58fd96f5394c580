package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/config"
)

func seedConfig() *config.Config {
	return &config.Config{
		RBAC: config.RBAC{Admins: []string{"UADMIN", "UADMIN2"}, AdminGroups: []string{"SOPS"}, RequiredApprovals: 2},
		Environments: map[string]config.Environment{
			"production": {Branch: "master", Protected: true},
			"staging":    {Branch: "latest", Protected: true, PromotesTo: "production"},
			"hotfix":     {Branch: "hotfix/*"},
			"test":       {Branch: "*", Ephemeral: true, TTL: time.Hour},
		},
		Apps: map[string]config.App{"api": {Repo: "acme/api"}, "web": {Repo: "acme/web"}},
	}
}

type groups map[string][]string

func (g groups) IsMember(_ context.Context, id, user string) (bool, error) {
	if id == "SBROKEN" {
		return false, errors.New("slack down")
	}
	return slices.Contains(g[id], user), nil
}

func TestEnvironmentFor(t *testing.T) {
	p := New(seedConfig(), nil)
	for branch, want := range map[string]string{
		"master":        "production",
		"latest":        "staging",
		"hotfix/login":  "hotfix",
		"feature-x":     "test",
		"hotfix":        "test",
		"abc1234":       "test",
		"masterful":     "test",
		"release/2026":  "test",
		"hotfix/a/deep": "test",
	} {
		got, ok := p.EnvironmentFor(branch)
		if !ok || got != want {
			t.Errorf("EnvironmentFor(%q) = %q, %v; want %q", branch, got, ok, want)
		}
	}
}

func TestDeployTarget(t *testing.T) {
	p := New(seedConfig(), nil)
	tests := []struct {
		ref, to, want, refusal string
	}{
		{ref: "master", want: "production"},
		{ref: "master", to: "production", want: "production"},
		{ref: "feature-x", want: "test"},
		{ref: "feature-x", to: "test", want: "test"},
		{ref: "feature-x", to: "production", refusal: "`feature-x` deploys to *test*; *production* deploys from branch `master`"},
		{ref: "master", to: "test", refusal: "*test* deploys from any branch without an environment of its own"},
		{ref: "latest", to: "prod", refusal: "Unknown environment `prod`. Known environments: `hotfix`, `production`, `staging`, `test`."},
	}
	for _, tt := range tests {
		t.Run(tt.ref+"→"+tt.to, func(t *testing.T) {
			got, err := p.DeployTarget(tt.ref, tt.to)
			if tt.refusal != "" {
				var r *Refusal
				if !errors.As(err, &r) || !strings.Contains(r.Reason, tt.refusal) {
					t.Fatalf("DeployTarget = %q, %v; want refusal containing %q", got, err, tt.refusal)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DeployTarget = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNoCatchAllRefusesUnmappedBranch(t *testing.T) {
	cfg := seedConfig()
	delete(cfg.Environments, "test")
	_, err := New(cfg, nil).DeployTarget("feature-x", "")
	if err == nil || !strings.Contains(err.Error(), "maps to no environment") {
		t.Fatalf("err = %v", err)
	}
}

func TestEphemeralTarget(t *testing.T) {
	p := New(seedConfig(), nil)
	if env, err := p.EphemeralTarget("feature-x"); err != nil || env != "test" {
		t.Fatalf("feature-x: %q %v", env, err)
	}
	if _, err := p.EphemeralTarget("master"); err == nil || !strings.Contains(err.Error(), "not an ephemeral environment") {
		t.Fatalf("master: %v", err)
	}
}

func TestPromotionPath(t *testing.T) {
	p := New(seedConfig(), nil)
	tests := []struct {
		from, to, wantFrom, wantTo, refusal string
	}{
		{wantFrom: "staging", wantTo: "production"},
		{from: "staging", wantFrom: "staging", wantTo: "production"},
		{from: "test", to: "staging", wantFrom: "test", wantTo: "staging"},
		{from: "test", refusal: "*test* promotes nowhere"},
		{from: "staging", to: "staging", refusal: "to itself"},
		{from: "nope", refusal: "Unknown environment `nope`"},
	}
	for _, tt := range tests {
		from, to, err := p.PromotionPath(tt.from, tt.to)
		if tt.refusal != "" {
			if err == nil || !strings.Contains(err.Error(), tt.refusal) {
				t.Errorf("PromotionPath(%q,%q) err = %v; want %q", tt.from, tt.to, err, tt.refusal)
			}
			continue
		}
		if err != nil || from != tt.wantFrom || to != tt.wantTo {
			t.Errorf("PromotionPath(%q,%q) = %q,%q,%v", tt.from, tt.to, from, to, err)
		}
	}
}

func TestCheckVote(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		user    string
		self    bool
		groups  GroupMembers
		refusal string
	}{
		{name: "admin", user: "UADMIN2"},
		{name: "group member", user: "UOPS", groups: groups{"SOPS": {"UOPS"}}},
		{name: "developer", user: "UDEV", refusal: "Only admins can approve or deny releases to *production*: <@UADMIN>, <@UADMIN2>, members of user group `SOPS`"},
		{name: "developer without directory", user: "UOPS", refusal: "Only admins"},
		{name: "self approval", user: "UADMIN", refusal: "another admin must approve it"},
		{name: "self approval allowed", user: "UADMIN", self: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := seedConfig()
			cfg.RBAC.AllowSelfApproval = tt.self
			err := New(cfg, tt.groups).CheckVote(ctx, tt.user, "UADMIN", "production", 7)
			if tt.refusal == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.refusal != "" && (err == nil || !strings.Contains(err.Error(), tt.refusal)) {
				t.Fatalf("err = %v; want %q", err, tt.refusal)
			}
		})
	}
}

func TestOneBrokenGroupDoesNotHideTheOthers(t *testing.T) {
	cfg := seedConfig()
	cfg.RBAC.AdminGroups = []string{"SBROKEN", "SOPS"}
	err := New(cfg, groups{"SOPS": {"UOPS"}}).CheckVote(context.Background(), "UOPS", "UDEV", "production", 7)
	if err != nil {
		t.Fatalf("a member of a readable admin group was refused: %v", err)
	}
}

func TestGroupLookupFailureIsNotARefusal(t *testing.T) {
	cfg := seedConfig()
	cfg.RBAC.AdminGroups = []string{"SBROKEN"}
	err := New(cfg, groups{}).CheckVote(context.Background(), "UDEV", "UADMIN", "production", 7)
	var r *Refusal
	if err == nil || errors.As(err, &r) {
		t.Fatalf("err = %v; want an internal error, not a refusal", err)
	}
}

func TestCheckLock(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	l := Lock{Env: "staging", Owner: "UANA", Reason: "hotfix in progress", At: now.Add(-5 * time.Minute)}
	err := CheckLock(l, "UBOB", now)
	want := "*staging* is locked by <@UANA> since 5m ago: hotfix in progress. Ask them, or an admin, to `/hoist unlock staging`."
	if err == nil || err.Error() != want {
		t.Fatalf("CheckLock = %v\nwant %s", err, want)
	}
	if err := CheckLock(l, "UANA", now); err != nil {
		t.Fatalf("owner refused: %v", err)
	}
	if err := CheckLock(Lock{}, "UBOB", now); err != nil {
		t.Fatalf("no lock refused: %v", err)
	}
}

func TestLockAndUnlockRights(t *testing.T) {
	ctx := context.Background()
	p := New(seedConfig(), nil)
	if err := p.CheckLockRequest(ctx, "test", "UDEV"); err != nil {
		t.Errorf("developer may lock test: %v", err)
	}
	if err := p.CheckLockRequest(ctx, "production", "UDEV"); err == nil {
		t.Error("developer locked production")
	}
	l := Lock{Env: "test", Owner: "UDEV"}
	if err := p.CheckUnlock(ctx, l, "UOTHER"); err == nil {
		t.Error("another developer unlocked")
	}
	for _, u := range []string{"UDEV", "UADMIN"} {
		if err := p.CheckUnlock(ctx, l, u); err != nil {
			t.Errorf("%s may unlock: %v", u, err)
		}
	}
}
