package demo

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
)

// TestSimulatedRolloutReplacesPodsOneAtATime: a new release into
// production shows, step by step, what a Deployment with maxSurge 1 and
// maxUnavailable 0 goes through, never with fewer than three pods
// available; a first release into a new namespace starts its three pods at
// once.
func TestSimulatedRolloutReplacesPodsOneAtATime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		seeded bool
		want   []string
	}{
		{"replacing earlier pods", true, []string{
			"1/3 updated · 3 available · 3 old",
			"1/3 updated · 4 available · 3 old",
			"2/3 updated · 3 available · 2 old",
			"2/3 updated · 4 available · 2 old",
			"3/3 updated · 3 available · 1 old",
			"3/3 updated · 4 available · 1 old",
			"3/3 updated · 3 available · 0 old",
		}},
		{"into a new namespace", false, []string{
			"3/3 updated · 0 available · 0 old",
			"3/3 updated · 1 available · 0 old",
			"3/3 updated · 2 available · 0 old",
			"3/3 updated · 3 available · 0 old",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSimCluster("demo", time.Hour)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			before := appDeployment{namespace: "demo-production", name: "demo", image: appImage("1111111")}
			if tc.seeded {
				c.seed(before)
			} else if err := c.EnsureNamespace(ctx, release.Namespace{Cluster: "demo", Name: before.namespace}); err != nil {
				t.Fatal(err)
			}
			after := before
			after.image, after.release = appImage("2222222"), "7"
			if err := c.apply(ctx, after); err != nil {
				t.Fatal(err)
			}
			// Each step is taken once the one before has been reported.
			reported := make(chan string)
			done := make(chan error, 1)
			go func() {
				done <- c.Rollout(ctx, release.RolloutTarget{Cluster: "demo", Namespace: "demo-production", Deployment: "demo"}, func(p release.RolloutProgress) {
					reported <- fmt.Sprintf("%d/%d updated · %d available · %d old", p.Updated, p.Desired, p.Available, p.Old)
				})
			}()
			var seen []string
		follow:
			for {
				select {
				case p := <-reported:
					seen = append(seen, p)
					c.advance()
				case err := <-done:
					if err != nil {
						t.Fatalf("rollout: %v", err)
					}
					break follow
				}
			}
			if fmt.Sprint(seen) != fmt.Sprint(tc.want) {
				t.Errorf("progress:\n%q\nwant\n%q", seen, tc.want)
			}
		})
	}
}

// TestSimulatedClusterLeavesOtherNamespacesAlone: namespaces Hoist did
// not create can be neither taken over nor deleted; those it created it
// lists, and deletes with what runs in them.
func TestSimulatedClusterLeavesOtherNamespacesAlone(t *testing.T) {
	ctx := context.Background()
	c := newSimCluster("demo", time.Second, "kube-system")
	c.seed(appDeployment{namespace: "demo-staging", name: "demo", image: appImage("1111111")})
	for _, name := range []string{"kube-system", "demo-staging"} {
		if err := c.EnsureNamespace(ctx, release.Namespace{Cluster: "demo", Name: name, App: "demo"}); !errors.Is(err, release.ErrNotManaged) {
			t.Errorf("env up into %s: %v; want ErrNotManaged", name, err)
		}
		if err := c.DeleteNamespace(ctx, "demo", name); !errors.Is(err, release.ErrNotManaged) {
			t.Errorf("env down of %s: %v; want ErrNotManaged", name, err)
		}
	}

	mine := release.Namespace{Cluster: "demo", Name: "demo-feature-login", App: "demo", Branch: "feature-login", Owner: "U0DEMODAVE"}
	if err := c.EnsureNamespace(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if err := c.apply(ctx, appDeployment{namespace: mine.Name, name: "demo", image: appImage("2222222")}); err != nil {
		t.Fatal(err)
	}
	if list, err := c.ListNamespaces(ctx, "demo"); err != nil || len(list) != 1 || list[0] != mine {
		t.Errorf("managed namespaces = %+v, %v; want only %s", list, err, mine.Name)
	}
	if err := c.DeleteNamespace(ctx, "demo", mine.Name); err != nil {
		t.Fatal(err)
	}
	if list, _ := c.ListNamespaces(ctx, "demo"); len(list) != 0 {
		t.Errorf("managed namespaces after env down = %+v", list)
	}
	if err := c.apply(ctx, appDeployment{namespace: mine.Name, name: "demo", image: appImage("3333333")}); err == nil {
		t.Error("a deploy into a deleted namespace succeeded")
	}
	if err := c.DeleteNamespace(ctx, "demo", mine.Name); err != nil {
		t.Errorf("env down of a namespace already gone: %v", err)
	}
}
