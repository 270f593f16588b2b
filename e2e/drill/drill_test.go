// Package drill holds Haetae's container fault drills: a three-DC cluster in Docker (internal/dctest)
// under a continuous write load through all three DCs, while a DC is killed, cut off, or its links are
// slowed. They assert correctness only — every acknowledged message on every node exactly once, at the
// seq it was acknowledged with, in real-time order, and a cut-off DC acknowledging nothing — and print
// what they measured (recovery times, throughput, latency; run with -v to see it). Speed targets live
// in docs/reliability.md and the benchmarks, never in assertions here, so a slow CI machine cannot
// fail them.
//
// They need Docker: skipped without it, failed without it when CI is set.
package drill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/dctest"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// drillRooms are spread by the server over its message streams (three shards, their leaders
	// spread over the DCs, one each). A third of all rooms, by the hash of their ids, belong to the
	// stream a lost DC led; thirty rooms keep a run's measured share of rooms without a stall near
	// the two thirds the design gives (twelve let it swing between 58 and 75%).
	drillRooms = 30
	// pace is how often each writer sends to each room: 3 writers × 30 rooms every 500 ms is 180
	// messages/s, about half of what two shared cores acknowledge, so a stall stands out from queueing.
	pace = 500 * time.Millisecond
	// stallAfter is a gap between two acknowledgements of one writer in one room that counts as a stall.
	stallAfter = time.Second
	// maxPerRoom bounds every writer's sends per room; the drills' deadlines bound them in time.
	maxPerRoom = 20000
	// converge bounds how long histories may take to agree after a fault.
	converge = 90 * time.Second
)

// killRuns is how many times TestKillOneDC kills a DC: 5 (dc1, dc2, dc3, dc1, dc2), or
// HAETAE_DRILL_KILLS.
func killRuns(tb testing.TB) int {
	if s := os.Getenv("HAETAE_DRILL_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			tb.Fatalf("HAETAE_DRILL_KILLS=%q: want a positive number", s)
		}
		return n
	}
	return 5
}

// TestKillOneDC kills one DC's node with SIGKILL (docker kill) while a writer per DC sends to every
// room, each with failover to the other DCs, a different DC each run. Every acknowledged message must
// be on both survivors, and on the killed DC after it returns, exactly once, at its acknowledged seq.
// It prints per run the RTO (the longest any writer waited for an acknowledgement in a room) and the
// share of rooms that never stalled.
func TestKillOneDC(t *testing.T) {
	c := dctest.Start(t, dctest.Options{})
	f := newFixture(t, c, drillRooms)
	l := newLoad()
	runs := killRuns(t)
	var rows []killRow
	for r := range runs {
		rows = append(rows, killOnce(t, f, l, fmt.Sprintf("k%d", r+1), r%c.DCs()))
	}
	t.Log(killTable(rows, f.rooms, roomStreams(t, c, f.rooms)))
}

// killRow is what one kill run measured.
type killRow struct {
	run, killed string
	led         []string // the message streams the killed DC led when it was killed
	acks        int
	deduped     int                      // acknowledgements answered 200: a retry of a send that had landed
	waits       map[string]time.Duration // per room, the longest wait of any writer for an acknowledgement
}

// killTable is the kill drill's report: a row per run, then the RTO percentiles over the runs.
func killTable(rows []killRow, rooms []string, streams map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kill drill, %d runs, %d rooms, a writer per DC (failing over to the others), a send per room every %s:\n", len(rows), len(rooms), pace)
	fmt.Fprintf(&b, "%-4s %-6s %-30s %6s %8s %10s %10s %10s  %s\n", "run", "killed", "message streams it led", "acks", "repeats",
		"RTO max", "led rooms", "others", "rooms without a stall (>1 s)")
	var perRun, perRoom, ledAll, othersAll []time.Duration
	for _, row := range rows {
		var all, ledRooms, others []time.Duration
		calm := 0
		for _, room := range rooms {
			w := row.waits[room]
			all = append(all, w)
			if slices.Contains(row.led, streams[room]) {
				ledRooms = append(ledRooms, w)
			} else {
				others = append(others, w)
			}
			if w < stallAfter {
				calm++
			}
		}
		ledAll, othersAll = append(ledAll, ledRooms...), append(othersAll, others...)
		all, ledRooms, others = sortedDurations(all), sortedDurations(ledRooms), sortedDurations(others)
		fmt.Fprintf(&b, "%-4s %-6s %-30s %6d %8d %10s %10s %10s  %d/%d (%.0f%%)\n", row.run, row.killed, ledLabel(row.led, rooms, streams), row.acks, row.deduped,
			ms(percentile(all, 1)), ms(percentile(ledRooms, 1)), ms(percentile(others, 1)), calm, len(all), 100*float64(calm)/float64(len(all)))
		perRun = append(perRun, percentile(all, 1))
		perRoom = append(perRoom, all...)
	}
	fmt.Fprintf(&b, "(RTO: the longest any writer waited for an acknowledgement in a room; led rooms: those of the message streams the killed DC led;\n repeats: acknowledgements answered 200, the retry of a send that had landed)\n")
	perRun, perRoom = sortedDurations(perRun), sortedDurations(perRoom)
	ledAll, othersAll = sortedDurations(ledAll), sortedDurations(othersAll)
	fmt.Fprintf(&b, "RTO of the rooms of the streams the killed DC led: p50 %s, p99 %s, max %s (%d rooms over all runs)\n",
		ms(percentile(ledAll, 0.5)), ms(percentile(ledAll, 0.99)), ms(percentile(ledAll, 1)), len(ledAll))
	fmt.Fprintf(&b, "RTO of the other rooms:                             p50 %s, p99 %s, max %s (%d rooms over all runs)\n",
		ms(percentile(othersAll, 0.5)), ms(percentile(othersAll, 0.99)), ms(percentile(othersAll, 1)), len(othersAll))
	fmt.Fprintf(&b, "RTO, the max over rooms of each run: p50 %s, p99 %s, max %s\n", ms(percentile(perRun, 0.5)), ms(percentile(perRun, 0.99)), ms(percentile(perRun, 1)))
	fmt.Fprintf(&b, "RTO of every room of every run:      p50 %s, p99 %s, max %s\n", ms(percentile(perRoom, 0.5)), ms(percentile(perRoom, 0.99)), ms(percentile(perRoom, 1)))
	return b.String()
}

// ledLabel names the streams and says how many of the rooms are theirs.
func ledLabel(led, rooms []string, streams map[string]string) string {
	if len(led) == 0 {
		return "none"
	}
	n := 0
	for _, r := range rooms {
		if slices.Contains(led, streams[r]) {
			n++
		}
	}
	return fmt.Sprintf("%s (%d rooms)", strings.Join(led, ","), n)
}

func killOnce(t *testing.T, f *fixture, l *load, run string, victim int) killRow {
	t.Helper()
	c := f.c
	leaders := waitLeadersSpread(t, c, time.Minute)
	var led []string
	for stream, leader := range leaders {
		if leader == c.DC(victim) && strings.HasPrefix(stream, msgStreamPrefix) {
			led = append(led, stream)
		}
	}
	slices.Sort(led)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var writers []string
	var stops []func()
	for i := range c.DCs() {
		w := writer{name: c.DC(i), c: f.clients[i], pace: pace, max: maxPerRoom}
		writers = append(writers, w.name)
		stops = append(stops, l.start(ctx, w, f.rooms, run))
	}
	stop := func() {
		for _, s := range stops {
			s()
		}
	}
	defer stop()
	if err := l.waitUntil(time.Minute, everyPair(writers, f.rooms, time.Time{})); err != nil {
		t.Fatalf("run %s: the writers did not start: %v", run, err)
	}

	c.Kill(victim)
	deadAt := time.Now() // the container has stopped; it died somewhere during Kill
	t.Logf("run %s: killed %s", run, c.DC(victim))
	// Every writer must get writes acknowledged again in every room: a send started after the node
	// was surely dead was acknowledged, so any stall it caused has ended and is measured. At least 3 s,
	// so that a slowly noticed failure shows too.
	err := l.waitUntil(2*time.Minute, func(as []attempt) error {
		if time.Since(deadAt) < 3*time.Second {
			return errors.New("less than 3 s since the kill")
		}
		return everyPair(writers, f.rooms, deadAt)(as)
	})
	stop()
	if err != nil {
		t.Fatalf("run %s: writers did not recover within 2 minutes of killing %s: %v", run, c.DC(victim), err)
	}
	as := l.snapshot()
	fatalErrors(t, filterRun(as, run))
	checkRealTimeOrder(t, as)

	var survivors, all []node
	for i := range c.DCs() {
		n := node{c.DC(i), c.URL(i)}
		all = append(all, n)
		if i != victim {
			survivors = append(survivors, n)
		}
	}
	token := f.clients[0].Token()
	verifyHistories(t, survivors, token, l, f.rooms, converge)
	restartedAt := time.Now()
	c.Start(victim)
	c.WaitReady(victim)
	ready := time.Since(restartedAt)
	n := verifyHistories(t, all, token, l, f.rooms, converge)

	row := killRow{run: run, killed: c.DC(victim), led: led, waits: longestWaits(as, run)}
	var rto time.Duration
	for _, w := range row.waits {
		rto = max(rto, w)
	}
	for _, a := range as {
		if a.Run == run && a.acked() {
			row.acks++
			if !a.Created {
				row.deduped++
			}
		}
	}
	t.Logf("run %s: %d acknowledged, failed attempts: %s; RTO max %s; %s ready %s after restart; %d messages identical on all DCs; stalls: %s",
		run, row.acks, errorCounts(filterRun(as, run)), ms(rto), c.DC(victim), ready.Round(time.Millisecond), n, stallList(as, run))
	return row
}

// stallList names each writer's stalls (waits over stallAfter) in run, by room, for the log.
func stallList(as []attempt, run string) string {
	last := map[string]time.Time{}
	var out []string
	for _, a := range as {
		if a.Run != run || !a.acked() {
			continue
		}
		k := a.Writer + " in " + a.Room
		if prev, ok := last[k]; ok && a.End.Sub(prev) > stallAfter {
			out = append(out, fmt.Sprintf("%s %s from %s", k, ms(a.End.Sub(prev)), prev.Format("15:04:05.000")))
		}
		last[k] = a.End
	}
	switch {
	case len(out) == 0:
		return "none"
	case len(out) > 6:
		return fmt.Sprintf("%s; and %d more", strings.Join(out[:6], "; "), len(out)-6)
	}
	return strings.Join(out, "; ")
}

func filterRun(as []attempt, run string) []attempt {
	var out []attempt
	for _, a := range as {
		if a.Run == run {
			out = append(out, a)
		}
	}
	return out
}

// longestWaits returns per room the longest time between two consecutive acknowledgements of one
// writer in that room during run: how long that writer could not get a write acknowledged there.
func longestWaits(as []attempt, run string) map[string]time.Duration {
	last := map[string]time.Time{}
	out := map[string]time.Duration{}
	for _, a := range as { // in order of recording; a writer's attempts in a room are sequential
		if a.Run != run || !a.acked() {
			continue
		}
		k := a.Writer + " " + a.Room
		if prev, ok := last[k]; ok {
			out[a.Room] = max(out[a.Room], a.End.Sub(prev))
		}
		last[k] = a.End
	}
	return out
}

// TestPartitionedDCRefusesWrites cuts one DC off the inter-DC network (docker network disconnect)
// while a writer pinned to that DC alone keeps sending to it and the other DCs' writers send to theirs.
// The cut-off DC must answer 503 no_quorum within a minute and acknowledge nothing sent after the cut
// until it is reconnected; the majority carries on; after the heal every DC shows one identical history with
// every acknowledged message exactly once.
func TestPartitionedDCRefusesWrites(t *testing.T) {
	c := dctest.Start(t, dctest.Options{})
	const victim = 0
	f := newFixture(t, c, drillRooms/2)
	l := newLoad()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	pinned := writer{name: c.DC(victim) + "-pinned", pace: 100 * time.Millisecond, max: maxPerRoom, pinned: true,
		c: newPinnedClient(t, c, victim, f.clients[victim].Token())}
	var majority []string
	stops := []func(){l.start(ctx, pinned, f.rooms, "p")}
	for i := range c.DCs() {
		if i == victim {
			continue
		}
		w := writer{name: c.DC(i), c: f.clients[i], pace: pace, max: maxPerRoom}
		majority = append(majority, w.name)
		stops = append(stops, l.start(ctx, w, f.rooms, "p"))
	}
	stop := func() {
		for _, s := range stops {
			s()
		}
	}
	defer stop()
	if err := l.waitUntil(time.Minute, everyPair(append([]string{pinned.name}, majority...), f.rooms, time.Time{})); err != nil {
		t.Fatalf("the writers did not start: %v", err)
	}

	cutAt := time.Now()
	c.Disconnect(victim)
	cutDone := time.Now() // from here on dc1 has no path to any other DC
	notReady := waitNotReady(t, c.URL(victim), time.Minute)
	var refusedAt time.Time // when the pinned writer first heard no_quorum
	err := l.waitUntil(time.Minute, func(as []attempt) error {
		for _, a := range as {
			if a.Writer == pinned.name && a.Code == haetae.ENoQuorum && (refusedAt.IsZero() || a.End.Before(refusedAt)) {
				refusedAt = a.End
			}
		}
		if refusedAt.IsZero() {
			return fmt.Errorf("%s has not answered no_quorum since it was cut off", c.DC(victim))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s cut off; /readyz 503 %s later; the pinned writer's first no_quorum %s later", c.DC(victim),
		notReady.Sub(cutAt).Round(time.Millisecond), refusedAt.Sub(cutAt).Round(time.Millisecond))
	// The majority carries on: each of its writers gets writes acknowledged in every room after the
	// cut-off DC said no_quorum, and the cut lasts at least 5 s beyond that.
	err = l.waitUntil(2*time.Minute, func(as []attempt) error {
		if time.Since(refusedAt) < 5*time.Second {
			return errors.New("less than 5 s since no_quorum")
		}
		return everyPair(majority, f.rooms, refusedAt)(as)
	})
	if err != nil {
		t.Fatalf("the majority did not carry on: %v", err)
	}

	healAt := time.Now()
	c.Reconnect(victim)
	c.WaitReady(victim)
	t.Logf("%s reconnected; ready again %s later", c.DC(victim), time.Since(healAt).Round(time.Millisecond))
	if err := l.waitUntil(2*time.Minute, everyPair([]string{pinned.name}, f.rooms, healAt)); err != nil {
		t.Fatalf("the pinned writer did not get writes acknowledged after the heal: %v", err)
	}
	stop()

	as := l.snapshot()
	fatalErrors(t, as)
	// Nothing sent to the cut-off DC after the cut may be acknowledged before the heal: it cannot reach
	// a majority to commit it. (That covers "once it said no_quorum" too.) A send answered after the
	// heal began may have been committed after it.
	var refused, lateAcks int
	var beforeRefusal []attempt // what the pinned writer saw between the cut and the first no_quorum
	for _, a := range as {
		if a.Writer != pinned.name || !a.Start.After(cutDone) || !a.Start.Before(healAt) {
			continue
		}
		switch {
		case a.acked() && a.End.Before(healAt):
			t.Errorf("%s acknowledged %s in room %s (seq %d) at %s though it was cut off at %s (it answered no_quorum from %s) and not yet healed",
				c.DC(victim), a.ClientID, a.Room, a.Seq, a.End.Format("15:04:05.000"), cutDone.Format("15:04:05.000"), refusedAt.Format("15:04:05.000"))
		case a.acked():
			lateAcks++
		case a.Start.After(refusedAt):
			refused++
		default:
			beforeRefusal = append(beforeRefusal, a)
		}
	}
	var slowest time.Duration
	for _, a := range beforeRefusal {
		slowest = max(slowest, a.End.Sub(a.Start))
	}
	// The sends the cut caught (made before it was complete, answered after): how long the cut-off DC
	// kept them waiting.
	var inFlight []attempt
	var hung time.Duration
	inFlightAcked := 0
	for _, a := range as {
		if a.Writer == pinned.name && a.Start.Before(cutDone) && a.End.After(cutDone) {
			inFlight = append(inFlight, a)
			hung = max(hung, a.End.Sub(cutAt))
			if a.acked() {
				inFlightAcked++
			}
		}
	}
	checkRealTimeOrder(t, as)
	var all []node
	for i := range c.DCs() {
		all = append(all, node{c.DC(i), c.URL(i)})
	}
	n := verifyHistories(t, all, f.clients[0].Token(), l, f.rooms, converge)

	var majorityWait time.Duration
	for _, w := range longestWaitsOf(as, majority) {
		majorityWait = max(majorityWait, w)
	}
	t.Logf("partition drill: %s cut off for %s. /readyz said 503 %s after the cut. Of the %d pinned sends the cut caught in flight, %d were "+
		"acknowledged, the others failed with %s; the last was answered %s after the cut. Sends made after the cut and before the first no_quorum answer (%s after it): %s, the slowest %s. "+
		"Then %d sends refused (%s) until the heal; %d sends of the cut answered after the heal. "+
		"The majority's longest wait for an acknowledgement: %s. %d messages identical on all DCs.",
		c.DC(victim), healAt.Sub(cutAt).Round(time.Millisecond), notReady.Sub(cutAt).Round(time.Millisecond),
		len(inFlight), inFlightAcked, errorCounts(inFlight), ms(hung), refusedAt.Sub(cutAt).Round(time.Millisecond), errorCounts(beforeRefusal), ms(slowest),
		refused, errorCounts(pinnedBetween(as, pinned.name, refusedAt, healAt)), lateAcks, ms(majorityWait), n)
}

// waitNotReady polls a node's /readyz until it answers 503 and returns when it first did.
func waitNotReady(tb testing.TB, url string, timeout time.Duration) time.Time {
	tb.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if resp, err := hc.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return time.Now()
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s/readyz still not 503 after %s", url, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pinnedBetween(as []attempt, writer string, from, to time.Time) []attempt {
	var out []attempt
	for _, a := range as {
		if a.Writer == writer && a.Start.After(from) && a.Start.Before(to) {
			out = append(out, a)
		}
	}
	return out
}

// longestWaitsOf is longestWaits over every run, for the given writers only.
func longestWaitsOf(as []attempt, writers []string) map[string]time.Duration {
	var mine []attempt
	for _, a := range as {
		if slices.Contains(writers, a.Writer) {
			a.Run = ""
			mine = append(mine, a)
		}
	}
	return longestWaits(mine, "")
}

// latencyRooms are the rooms of TestRouteLatency: with a writer per DC, 12 sends in flight at all
// times, few enough that a send's time is mostly its round trips between DCs rather than queueing on
// two cores.
const latencyRooms = 4

// TestRouteLatency runs the same write load with and without 2 ms of latency on every route link, each
// way (Toxiproxy), in alternating phases of one cluster, and prints throughput and send latency of
// each. Every acknowledged message must be on every DC afterwards.
func TestRouteLatency(t *testing.T) {
	c := dctest.Start(t, dctest.Options{})
	f := newFixture(t, c, latencyRooms)
	l := newLoad()
	const phase = 6 * time.Second
	const warm = 500 * time.Millisecond // not measured: connections settle into the new latency
	delays := []time.Duration{0, 2 * time.Millisecond, 0, 2 * time.Millisecond}
	type window struct {
		delay      time.Duration
		run        string
		start, end time.Time
	}
	var windows []window
	for k, d := range delays {
		c.SetLatency(d)
		run := fmt.Sprintf("l%d", k+1)
		ctx, cancel := context.WithTimeout(context.Background(), phase)
		var stops []func()
		for i := range c.DCs() {
			// Back to back, no pacing: the load is as much as the cluster acknowledges.
			w := writer{name: c.DC(i), c: f.clients[i], max: maxPerRoom}
			stops = append(stops, l.start(ctx, w, f.rooms, run))
		}
		start := time.Now()
		<-ctx.Done() // the phase is a measurement window, not a wait for something to happen
		end := time.Now()
		for _, s := range stops {
			s()
		}
		cancel()
		windows = append(windows, window{d, run, start.Add(warm), end})
	}
	c.SetLatency(0)
	as := l.snapshot()
	fatalErrors(t, as)
	checkRealTimeOrder(t, as)
	var all []node
	for i := range c.DCs() {
		all = append(all, node{c.DC(i), c.URL(i)})
	}
	n := verifyHistories(t, all, f.clients[0].Token(), l, f.rooms, converge)

	type result struct {
		acks    int
		seconds float64
		lat     []time.Duration
	}
	res := map[time.Duration]*result{}
	for _, w := range windows {
		r := res[w.delay]
		if r == nil {
			r = &result{}
			res[w.delay] = r
		}
		r.seconds += w.end.Sub(w.start).Seconds()
		for _, a := range as {
			if a.Run == w.run && a.acked() && !a.Start.Before(w.start) && !a.End.After(w.end) {
				r.acks++
				r.lat = append(r.lat, a.End.Sub(a.Start))
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "route latency drill: %d writers × %d rooms back to back, phases of %s alternating (first %s of each not counted):\n",
		c.DCs(), latencyRooms, phase, warm)
	fmt.Fprintf(&b, "%-22s %8s %10s %10s %10s %10s\n", "route links", "acks", "msgs/s", "send p50", "send p99", "send max")
	for _, d := range []time.Duration{0, 2 * time.Millisecond} {
		r := res[d]
		lat := sortedDurations(r.lat)
		name := "as they are"
		if d > 0 {
			name = fmt.Sprintf("+%s each way", d)
		}
		fmt.Fprintf(&b, "%-22s %8d %10.0f %10s %10s %10s\n", name, r.acks, float64(r.acks)/r.seconds,
			msDecimal(percentile(lat, 0.5)), msDecimal(percentile(lat, 0.99)), msDecimal(percentile(lat, 1)))
	}
	fmt.Fprintf(&b, "failed attempts: %s; %d messages identical on all DCs", errorCounts(as), n)
	t.Log(b.String())
}

func msDecimal(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// msgStreamPrefix names the message streams, HAETAE_MSGS_<shard> (docs/architecture.md).
const msgStreamPrefix = "HAETAE_MSGS_"

// waitLeadersSpread waits until the message streams' leaders are on as many DCs as there are streams
// (up to one stream per DC), as the nodes arrange by themselves a little after a DC has returned, so
// every kill run starts from the steady state. If that does not happen within timeout it says so and
// goes on: the drill checks correctness, not placement. It returns the leaders of every stream.
func waitLeadersSpread(tb testing.TB, c *dctest.Cluster, timeout time.Duration) map[string]string {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		leaders, err := c.StreamLeaders()
		if err == nil {
			dcs := map[string]bool{}
			n := 0
			for stream, leader := range leaders {
				if strings.HasPrefix(stream, msgStreamPrefix) {
					n++
					if leader != "" {
						dcs[leader] = true
					}
				}
			}
			if n > 0 && len(dcs) == min(n, c.DCs()) {
				return leaders
			}
			err = fmt.Errorf("message stream leaders %v", leaders)
		}
		if time.Now().After(deadline) {
			tb.Logf("stream leaders not spread over the DCs after %s (%v); going on", timeout, err)
			return leaders
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// roomStreams maps each room to the message stream that holds it, from the streams' subjects
// (haetae.msg.<shard>.<room>, docs/architecture.md).
func roomStreams(tb testing.TB, c *dctest.Cluster, rooms []string) map[string]string {
	tb.Helper()
	js, nc, err := c.JetStream()
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]string{}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, msgStreamPrefix) {
			continue
		}
		s, err := js.Stream(ctx, name)
		if err != nil {
			tb.Fatalf("stream %s: %v", name, err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter("haetae.msg.>"))
		if err != nil {
			tb.Fatalf("stream %s: %v", name, err)
		}
		for subject := range info.State.Subjects {
			out[subject[strings.LastIndex(subject, ".")+1:]] = name
		}
	}
	if err := names.Err(); err != nil {
		tb.Fatal(err)
	}
	for _, r := range rooms {
		if out[r] == "" {
			tb.Fatalf("room %s is in no message stream", r)
		}
	}
	return out
}
