package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hoistbot/hoist/bench/internal/load"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
)

// The kinds of request in the load.
const (
	kindDeploy = "deploy" // /deploy api feature-N: writes a release
	kindStatus = "status" // /hoist status api: reads
	kindClick  = "click"  // Approve, by an admin, on a release awaiting approval
)

// request is one request of the load, not yet signed: it is signed when
// it leaves, as Slack does.
type request struct {
	kind string
	path string
	body []byte
}

// card is the Approve button of a release awaiting approval, as Slack
// shows it.
type card struct {
	releaseID string
	ts        string
	blockID   string
}

// clicksIn is the number of clicks among n requests of mix.
func clicksIn(n int) int { return n / 5 }

// mix returns n requests: in every five, two deploys, two status reads
// and a click on the next of cards. Each has its own response URL, so no
// two bodies are alike, as with Slack.
func mix(n int, cards []card, responseURL func(id string) string) []request {
	reqs := make([]request, 0, n)
	for i := range n {
		url := responseURL("bench-" + strconv.Itoa(i))
		switch i % 5 {
		case 0, 2:
			reqs = append(reqs, deploy(i, url))
		case 1, 3:
			reqs = append(reqs, request{kindStatus, "/slack/commands", slackreq.SlashCommand{
				TeamID: team, ChannelID: channel, ChannelName: "bench", UserID: developer, UserName: "dev",
				Command: "/hoist", Text: "status api", ResponseURL: url}.Body()})
		default:
			c := cards[i/5]
			reqs = append(reqs, request{kindClick, "/slack/interactions", slackreq.BlockAction{
				TeamID: team, ChannelID: channel, UserID: admin, UserName: "admin", ActionID: "hoist_approve",
				BlockID: c.blockID, Value: c.releaseID, MessageTS: c.ts, ResponseURL: url}.Body()})
		}
	}
	return reqs
}

// deploy is `/deploy api feature-I`, to the branch's test environment.
func deploy(i int, responseURL string) request {
	return request{kindDeploy, "/slack/commands", slackreq.SlashCommand{
		TeamID: team, ChannelID: channel, ChannelName: "bench", UserID: developer, UserName: "dev",
		Command: "/deploy", Text: "api feature-" + strconv.Itoa(i), ResponseURL: responseURL}.Body()}
}

// ackRound is what one round measured of one server.
type ackRound struct {
	all    load.Summary
	byKind map[string]load.Summary
	// failures holds a few of the unexpected answers.
	failures []string
}

func (b *bench) requestCount() int { return int(b.rate * b.load.Seconds()) }

// ack measures acknowledgement latency, Hoist's and the floor's, in
// rounds that alternate which goes first.
func (b *bench) ack(ctx context.Context) error {
	var floors, hoists []ackRound
	for round := 1; round <= b.rounds; round++ {
		measures := []func() error{
			func() error {
				r, err := b.ackFloor(ctx, round)
				floors = append(floors, r)
				return err
			},
			func() error {
				r, err := b.ackHoist(ctx, round)
				hoists = append(hoists, r)
				return err
			},
		}
		if round%2 == 0 {
			measures[0], measures[1] = measures[1], measures[0]
		}
		for _, measure := range measures {
			if err := measure(); err != nil {
				return err
			}
		}
		f, h := floors[len(floors)-1].all, hoists[len(hoists)-1].all
		b.logf("ack round %d: floor %s; hoist %s; p99 ratio %.2f", round, summaryText(f), summaryText(h), ratio(h.P99, f.P99))
		for _, failure := range hoists[len(hoists)-1].failures {
			b.logf("  hoist: %s", failure)
		}
	}
	b.addAckRows(floors, hoists)
	return nil
}

func (b *bench) ackFloor(ctx context.Context, round int) (ackRound, error) {
	p, log, err := b.startFloor(ctx, fmt.Sprintf("ack-%d-floor", round))
	if err != nil {
		return ackRound{}, err
	}
	defer log.Close()
	n := b.requestCount()
	cards := make([]card, clicksIn(n))
	for i := range cards {
		cards[i] = card{releaseID: strconv.Itoa(i + 1), ts: "1700000000.000100", blockID: "release_" + strconv.Itoa(i+1) + "_actions"}
	}
	responseURL := func(id string) string { return "https://hooks.slack.com/commands/" + team + "/" + id }
	reqs := mix(n, cards, responseURL)
	results := fire(ctx, "http://"+p.Addr, reqs, b.rate, checkFloor)
	return summarize(reqs, results), p.Stop(10 * time.Second)
}

func (b *bench) ackHoist(ctx context.Context, round int) (ackRound, error) {
	rig, err := b.startHoist(ctx, fmt.Sprintf("ack-%d-hoist", round))
	if err != nil {
		return ackRound{}, err
	}
	n := b.requestCount()
	cards, err := awaitingApproval(ctx, rig, clicksIn(n))
	if err != nil {
		return ackRound{}, errors.Join(err, rig.stop(ctx))
	}
	reqs := mix(n, cards, rig.slack.ResponseURL)
	results := fire(ctx, rig.base, reqs, b.rate, checkHoist)
	return summarize(reqs, results), rig.stop(ctx)
}

// awaitingApproval asks for n releases to production, which needs an
// admin's approval, and returns their cards' Approve buttons once Slack
// shows them all.
func awaitingApproval(ctx context.Context, r *rig, n int) ([]card, error) {
	signer := slackreq.Signer{Secret: signingSecret}
	for i := range n {
		body := slackreq.SlashCommand{TeamID: team, ChannelID: channel, ChannelName: "bench", UserID: developer, UserName: "dev",
			Command: "/deploy", Text: "api master", ResponseURL: r.slack.ResponseURL("prepare-" + strconv.Itoa(i))}.Body()
		req, err := signer.Request(r.base+"/slack/commands", slackreq.Form, body)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("deploy master: %w", err)
		}
		reply, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("deploy master: %w", err)
		}
		if err := checkHoist(request{kind: kindDeploy}, resp.StatusCode, reply); err != nil {
			return nil, fmt.Errorf("deploy master: %w", err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		states, err := releaseStates(ctx, r.base)
		if err != nil {
			return nil, err
		}
		cards := cardsOf(r.slack.Messages())
		if states["awaiting_approval"] == n && len(cards) == n {
			return cards, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("after 2 minutes, %d cards and %s", len(cards), statesText(states))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// fire sends reqs to base at rate, in an open loop, and returns each
// request's outcome: an error when the answer was not the one expected.
func fire(ctx context.Context, base string, reqs []request, rate float64, check func(request, int, []byte) error) []load.Result {
	transport := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	signer := slackreq.Signer{Secret: signingSecret}
	return load.Run(ctx, load.Plan{Rate: rate, Count: len(reqs)}, func(ctx context.Context, i int) error {
		rq := reqs[i]
		req, err := signer.Request(base+rq.path, slackreq.Form, rq.body)
		if err != nil {
			return err
		}
		resp, err := client.Do(req.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("%s: %w", rq.kind, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("%s: read answer: %w", rq.kind, err)
		}
		return check(rq, resp.StatusCode, body)
	})
}

// checkHoist says whether Hoist's answer is the acknowledgement expected:
// a deploy is requested, a status read is answered, a click is taken.
func checkHoist(rq request, status int, body []byte) error {
	text := string(body)
	switch {
	case status != http.StatusOK:
		return fmt.Errorf("%s: HTTP %d: %s", rq.kind, status, excerpt(text))
	case rq.kind == kindDeploy && !strings.Contains(text, "requested"):
		return fmt.Errorf("deploy: not requested: %s", excerpt(text))
	case strings.Contains(text, "something went wrong"):
		return fmt.Errorf("%s: %s", rq.kind, excerpt(text))
	}
	return nil
}

// checkFloor says whether the floor acknowledged the request.
func checkFloor(rq request, status int, body []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", rq.kind, status, excerpt(string(body)))
	}
	return nil
}

func excerpt(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

func summarize(reqs []request, results []load.Result) ackRound {
	r := ackRound{all: load.Summarize(results), byKind: map[string]load.Summary{}}
	byKind := map[string][]load.Result{}
	for _, res := range results {
		kind := reqs[res.Index].kind
		byKind[kind] = append(byKind[kind], res)
		if res.Err != nil && len(r.failures) < 5 {
			r.failures = append(r.failures, res.Err.Error())
		}
	}
	for kind, rs := range byKind {
		r.byKind[kind] = load.Summarize(rs)
	}
	return r
}

func summaryText(s load.Summary) string {
	text := fmt.Sprintf("p50 %s p99 %s max %s", durationText(s.P50), durationText(s.P99), durationText(s.Max))
	if s.Failed > 0 {
		text += fmt.Sprintf(" (%d of %d failed)", s.Failed, s.Count)
	}
	return text
}

func (b *bench) addAckRows(floors, hoists []ackRound) {
	median := func(rounds []ackRound, pick func(load.Summary) time.Duration, kind string) time.Duration {
		var values []time.Duration
		for _, r := range rounds {
			s := r.all
			if kind != "" {
				s = r.byKind[kind]
			}
			values = append(values, pick(s))
		}
		return load.Median(values)
	}
	medianRatio := func(pick func(load.Summary) time.Duration) float64 {
		var ratios []float64
		for i := range hoists {
			ratios = append(ratios, ratio(pick(hoists[i].all), pick(floors[i].all)))
		}
		return load.Median(ratios)
	}
	p50 := func(s load.Summary) time.Duration { return s.P50 }
	p99 := func(s load.Summary) time.Duration { return s.P99 }
	maxOf := func(s load.Summary) time.Duration { return s.Max }
	offered := fmt.Sprintf("%g requests/s for %s", b.rate, durationText(b.load))
	p99Ratio := medianRatio(p99)
	b.add(row{figure: "Acknowledgement latency p50 (" + offered + ")", value: durationText(median(hoists, p50, "")),
		baseline: "floor " + durationText(median(floors, p50, "")), ratio: times(medianRatio(p50))})
	b.add(row{figure: "Acknowledgement latency p99", value: durationText(median(hoists, p99, "")),
		baseline: "floor " + durationText(median(floors, p99, "")), ratio: times(p99Ratio), target: "≤ 2 × floor", verdict: verdict(p99Ratio <= 2)})
	b.add(row{figure: "Acknowledgement latency max", value: durationText(median(hoists, maxOf, "")),
		baseline: "floor " + durationText(median(floors, maxOf, "")), ratio: times(medianRatio(maxOf)), target: "< 3 s (Slack's limit)",
		verdict: verdict(median(hoists, maxOf, "") < 3*time.Second)})
	var byKind []string
	for _, kind := range []string{kindDeploy, kindStatus, kindClick} {
		byKind = append(byKind, kind+" "+durationText(median(hoists, p99, kind)))
	}
	b.add(row{figure: "Acknowledgement p99 by kind (deploy writes, status reads, click approves)", value: strings.Join(byKind, ", "),
		baseline: "floor " + durationText(median(floors, p99, ""))})
	failed, sent := 0, 0
	for _, r := range hoists {
		failed += r.all.Failed
		sent += r.all.Count
	}
	b.add(row{figure: "Requests not acknowledged as expected", value: fmt.Sprintf("%d of %d", failed, sent), target: "0", verdict: verdict(failed == 0)})
}

// cardsOf finds the cards of releases in msgs, in the order they were
// posted, by their message metadata. A card shows its Approve button only
// once the update budget lets its update through; the button's value is
// the release ID, and its block is named after it.
func cardsOf(msgs []slackapi.Message) []card {
	var cards []card
	for _, m := range msgs {
		var metadata struct {
			EventType    string `json:"event_type"`
			EventPayload struct {
				ReleaseID string `json:"release_id"`
			} `json:"event_payload"`
		}
		if m.ThreadTS != "" || m.Channel != channel || json.Unmarshal(m.Metadata, &metadata) != nil ||
			metadata.EventType != "hoist_release" || metadata.EventPayload.ReleaseID == "" {
			continue
		}
		id := metadata.EventPayload.ReleaseID
		cards = append(cards, card{releaseID: id, ts: m.TS, blockID: "release_" + id + "_actions"})
	}
	return cards
}
