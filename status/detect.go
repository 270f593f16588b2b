package status

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/haetae/haetae"
)

// A Detector looks at one kind of trouble and says which faults it sees now. Check is called about
// once a second from one goroutine; a fault it stops returning is over, as far as this node can tell.
type Detector interface {
	Check(now time.Time) []haetae.Fault
}

// stamp formats a time for cause texts: UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format("15:04:05Z") }

// DCWatch sees data centers become unreachable and this node lose its majority. Its inputs are the
// node's directory (every node announces itself on core NATS every 2 s, with its DC), the NATS routes
// this server has, and the quorum check; it keeps the last time it heard from each peer, so it can
// say which DC is gone, since when, and from whose view.
type DCWatch struct {
	// Node and DC name this node.
	Node, DC string
	// Endpoints lists the nodes heard from recently, this one first (the directory).
	Endpoints func() []haetae.Endpoint
	// Routes names the servers this one has a live NATS route to.
	Routes func() []string
	// Servers names every server of the cluster, reachable or not, this one included.
	Servers func() []string
	// Quorum says whether this node reaches a majority.
	Quorum func() error
	// Components are those a lost DC or a lost majority affects.
	Components []string
	// Start is when the node started; nothing is reported as lost before Start+Grace, so that a
	// node has heard from its peers before it judges them.
	Start time.Time
	Grace time.Duration
	// After is how long a peer may be silent, with no route, before its DC counts as unreachable.
	After time.Duration

	mu         sync.Mutex
	peers      map[string]*peer // by node name
	noQuorumAt time.Time
}

type peer struct {
	dc    string
	last  time.Time
	ready bool
	route bool
}

// Default timings of [DCWatch]: a peer announces itself every 2 s, so two missed announcements and no
// route is a lost peer.
const (
	DefaultUnreachableAfter = 4500 * time.Millisecond
	DefaultGrace            = 10 * time.Second
)

func (w *DCWatch) observe(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.peers == nil {
		w.peers = map[string]*peer{}
	}
	for _, p := range w.peers {
		p.route = false
	}
	for _, e := range w.Endpoints() {
		if e.Self || e.Node == w.Node {
			continue
		}
		p := w.peers[e.Node]
		if p == nil {
			p = &peer{}
			w.peers[e.Node] = p
		}
		p.dc, p.ready = e.DC, e.Ready
		if e.LastSeen.After(p.last) {
			p.last = e.LastSeen
		}
	}
	// A live route keeps a peer from counting as lost, but only an announcement counts as hearing
	// from it: a route to a dead server can look alive for the seconds its pings take to time out,
	// and the last announcement is the honest "last heard", at or before the fault.
	if w.Routes != nil {
		for _, name := range w.Routes() {
			if p := w.peers[name]; p != nil {
				p.route = true
			}
		}
	}
	if w.Servers != nil {
		for _, name := range w.Servers() {
			if name == w.Node || w.peers[name] != nil {
				continue
			}
			// A member never heard from since this node started: its DC is not known, and nodes
			// are named for their DC by default.
			w.peers[name] = &peer{dc: name, last: w.Start}
		}
	}
}

func (w *DCWatch) lost(p *peer, now time.Time) bool {
	return !p.route && now.Sub(p.last) > w.After && now.Sub(w.Start) > w.Grace
}

// Check implements [Detector].
func (w *DCWatch) Check(now time.Time) []haetae.Fault {
	w.observe(now)
	qerr := w.Quorum()
	w.mu.Lock()
	defer w.mu.Unlock()
	if qerr == nil {
		w.noQuorumAt = time.Time{}
	} else if w.noQuorumAt.IsZero() {
		w.noQuorumAt = now
	}
	names := make([]string, 0, len(w.peers))
	for n := range w.peers {
		names = append(names, n)
	}
	sort.Strings(names)
	if qerr != nil {
		if now.Sub(w.Start) <= w.Grace {
			return nil
		}
		// Cut off from the majority: this node cannot tell whether the others are down or it is
		// alone, so it reports its own state, not theirs, under the identity the majority gives the
		// same fault ("dc1 unreachable"): once the link is back its incident merges into theirs, one
		// incident with every side's view.
		since := w.noQuorumAt
		var seen []string
		var latest time.Time
		for _, n := range names {
			p := w.peers[n]
			if w.lost(p, now) {
				seen = append(seen, fmt.Sprintf("%s last heard at %s", p.dc, stamp(p.last)))
				if p.last.After(latest) {
					latest = p.last
				}
			}
		}
		if !latest.IsZero() && latest.Before(since) {
			since = latest
		}
		cause := fmt.Sprintf("Data center %s (node %s) cannot reach a majority of the cluster: %s", w.DC, w.Node, qerr)
		if len(seen) > 0 {
			cause += "; " + strings.Join(seen, ", ")
		}
		cause += ". It refuses writes with 503 no_quorum and serves reads from its own copy, which may be stale; clients move to another data center."
		return []haetae.Fault{{
			Key:        "dc_unreachable:" + w.DC,
			Title:      fmt.Sprintf("Data center %s cut off from the majority", w.DC),
			Impact:     haetae.ImpactMajor,
			Components: w.Components,
			DCs:        []string{w.DC},
			Cause:      cause,
			Since:      since,
		}}
	}
	byDC := map[string][]string{}
	lostDC := map[string]bool{}
	since := map[string]time.Time{}
	for _, n := range names {
		p := w.peers[n]
		byDC[p.dc] = append(byDC[p.dc], n)
		if _, ok := lostDC[p.dc]; !ok {
			lostDC[p.dc] = true
		}
		if !w.lost(p, now) {
			lostDC[p.dc] = false
		} else if s, ok := since[p.dc]; !ok || p.last.After(s) {
			since[p.dc] = p.last
		}
	}
	var out []haetae.Fault
	dcs := make([]string, 0, len(byDC))
	for dc := range byDC {
		dcs = append(dcs, dc)
	}
	sort.Strings(dcs)
	for _, dc := range dcs {
		if !lostDC[dc] || dc == w.DC {
			continue
		}
		out = append(out, haetae.Fault{
			Key:        "dc_unreachable:" + dc,
			Title:      fmt.Sprintf("Data center %s unreachable", dc),
			Impact:     haetae.ImpactMinor,
			Components: w.Components,
			DCs:        []string{dc},
			Cause: fmt.Sprintf("Data center %s (node %s) has not heard from data center %s (node %s) since %s and has no NATS route to it. "+
				"The other data centers keep the service up with a majority; clients of %s move to them, and rooms whose stream leader was in %s pause for the seconds an election takes.",
				w.DC, w.Node, dc, strings.Join(byDC[dc], ", "), stamp(since[dc]), dc, dc),
			Since: since[dc],
		})
	}
	return out
}

// States is every data center as this node sees it now: its own first, then the others by name.
func (w *DCWatch) States(now time.Time) []haetae.DCState {
	w.observe(now)
	qerr := w.Quorum()
	w.mu.Lock()
	defer w.mu.Unlock()
	self := haetae.DCState{Name: w.DC, State: haetae.StateOperational, LastSeen: now.UTC(), Self: true}
	if qerr != nil {
		self.State = haetae.StateNoQuorum
	}
	type dcInfo struct {
		last      time.Time
		lost, cut bool
	}
	info := map[string]*dcInfo{}
	for _, p := range w.peers {
		if p.dc == w.DC {
			continue
		}
		d := info[p.dc]
		if d == nil {
			d = &dcInfo{lost: true, cut: true}
			info[p.dc] = d
		}
		if p.last.After(d.last) {
			d.last = p.last
		}
		if !w.lost(p, now) {
			d.lost = false
			if p.ready {
				d.cut = false
			}
		}
	}
	names := make([]string, 0, len(info))
	for n := range info {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []haetae.DCState{self}
	for _, n := range names {
		d := info[n]
		st := haetae.DCState{Name: n, State: haetae.StateOperational, LastSeen: d.last.UTC()}
		switch {
		case d.lost && now.Sub(w.Start) > w.Grace:
			st.State = haetae.StateUnreachable
		case d.cut && !d.lost:
			st.State = haetae.StateNoQuorum
		}
		out = append(out, st)
	}
	return out
}

// Unreachable names the servers this node counts as lost now; their missing replicas are part of
// the lost DC's incident, not faults of their own.
func (w *DCWatch) Unreachable(now time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for n, p := range w.peers {
		if w.lost(p, now) {
			out = append(out, n)
		}
	}
	return out
}

// StreamHealth is one JetStream stream (a bucket's included) as this server's replica sees it.
type StreamHealth struct {
	Name string
	// Leader names the server leading the stream's group, "" when it has none.
	Leader string
	// Led says whether this server is the leader; only a leader knows its followers' state.
	Led bool
	// Replicas is how many replicas the stream is configured with.
	Replicas int
	// Behind names the followers that are not current or offline (as seen by the leader).
	Behind []string
}

// StreamWatch sees streams without a leader, and streams whose leader lacks a current follower that
// is not already accounted for by a lost data center.
type StreamWatch struct {
	Node, DC string
	Health   func() []StreamHealth
	// Excused names servers known to be lost (a DC incident covers their replicas).
	Excused func(now time.Time) []string
	// After is how long a condition must last to be a fault: an election takes seconds, and a
	// follower catching up after a restart is normal.
	After time.Duration

	mu       sync.Mutex
	noLeader map[string]time.Time
	behind   map[string]time.Time // server → since
}

// DefaultStreamAfter is how long a stream may be without a leader or a replica before it is a fault.
const DefaultStreamAfter = 15 * time.Second

// streamComponents names what a stream's trouble affects.
func streamComponents(stream string) []string {
	switch {
	case strings.HasPrefix(stream, "KV_haetae_users"), strings.HasPrefix(stream, "KV_haetae_sessions"):
		return []string{haetae.ComponentAccounts}
	case strings.HasPrefix(stream, "HAETAE_MSGS_"):
		return []string{haetae.ComponentMessaging, haetae.ComponentLive}
	case strings.HasPrefix(stream, "KV_haetae_gifts"):
		return []string{haetae.ComponentGifts}
	default:
		return []string{haetae.ComponentMessaging}
	}
}

// Check implements [Detector].
func (w *StreamWatch) Check(now time.Time) []haetae.Fault {
	health := w.Health()
	var excused []string
	if w.Excused != nil {
		excused = w.Excused(now)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.noLeader == nil {
		w.noLeader, w.behind = map[string]time.Time{}, map[string]time.Time{}
	}
	var out []haetae.Fault
	leaderless := map[string]bool{}
	behindNow := map[string][]string{} // server → streams
	for _, h := range health {
		if h.Leader == "" {
			leaderless[h.Name] = true
			if _, ok := w.noLeader[h.Name]; !ok {
				w.noLeader[h.Name] = now
			}
			continue
		}
		if !h.Led {
			continue
		}
		for _, s := range h.Behind {
			if !slices.Contains(excused, s) {
				behindNow[s] = append(behindNow[s], h.Name)
			}
		}
	}
	for s := range w.noLeader {
		if !leaderless[s] {
			delete(w.noLeader, s)
		}
	}
	for s := range w.behind {
		if behindNow[s] == nil {
			delete(w.behind, s)
		}
	}
	for s := range behindNow {
		if _, ok := w.behind[s]; !ok {
			w.behind[s] = now
		}
	}
	names := make([]string, 0, len(w.noLeader))
	for s := range w.noLeader {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		since := w.noLeader[s]
		if now.Sub(since) < w.After {
			continue
		}
		out = append(out, haetae.Fault{
			Key:        "no_leader:" + s,
			Title:      fmt.Sprintf("Stream %s without a leader", s),
			Impact:     haetae.ImpactMajor,
			Components: streamComponents(s),
			Cause: fmt.Sprintf("JetStream stream %s has had no leader since %s as seen from %s (node %s): its writes are refused until a majority of its replicas elect one.",
				s, stamp(since), w.DC, w.Node),
			Since: since,
		})
	}
	servers := make([]string, 0, len(w.behind))
	for s := range w.behind {
		servers = append(servers, s)
	}
	sort.Strings(servers)
	for _, srv := range servers {
		since := w.behind[srv]
		if now.Sub(since) < w.After {
			continue
		}
		streams := behindNow[srv]
		sort.Strings(streams)
		var comps []string
		for _, st := range streams {
			for _, c := range streamComponents(st) {
				if !slices.Contains(comps, c) {
					comps = append(comps, c)
				}
			}
		}
		out = append(out, haetae.Fault{
			Key:        "replica_missing:" + srv,
			Title:      fmt.Sprintf("Replicas on server %s not current", srv),
			Impact:     haetae.ImpactMinor,
			Components: comps,
			Cause: fmt.Sprintf("Since %s the replicas on server %s of %s are offline or not current (seen by their leader %s in %s), although the server is reachable. "+
				"Writes still commit on the other two replicas, but one more lost replica would stop them.",
				stamp(since), srv, strings.Join(streams, ", "), w.Node, w.DC),
			Since: since,
		})
	}
	return out
}

// DiskWatch sees this node's disk filling up: JetStream's store against its cap (--max-store) and the
// free space of the file system that holds the data directory.
type DiskWatch struct {
	Node, DC string
	// Usage returns the bytes JetStream stores and its cap (0: none).
	Usage func() (used, max int64)
	// Free returns the free and total bytes of the data directory's file system.
	Free func() (free, total uint64, err error)
	// StoreRatio is the share of the cap from which the store counts as nearly full (default 0.9).
	StoreRatio float64
	// MinFree is the free space under which the file system counts as nearly full (default 512 MiB).
	MinFree uint64

	mu    sync.Mutex
	since time.Time
}

// Check implements [Detector].
func (w *DiskWatch) Check(now time.Time) []haetae.Fault {
	var reasons []string
	impact := haetae.ImpactMinor
	if w.Usage != nil {
		used, limit := w.Usage()
		if limit > 0 && float64(used) >= w.StoreRatio*float64(limit) {
			reasons = append(reasons, fmt.Sprintf("JetStream stores %s of its %s cap (%.0f%%)", bytesText(uint64(used)), bytesText(uint64(limit)), 100*float64(used)/float64(limit)))
			if used >= limit {
				impact = haetae.ImpactMajor
			}
		}
	}
	if w.Free != nil {
		if free, total, err := w.Free(); err == nil && total > 0 && free < w.MinFree {
			reasons = append(reasons, fmt.Sprintf("the data directory's file system has %s free of %s", bytesText(free), bytesText(total)))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(reasons) == 0 {
		w.since = time.Time{}
		return nil
	}
	if w.since.IsZero() {
		w.since = now
	}
	return []haetae.Fault{{
		Key:        "disk_full:" + w.Node,
		Title:      fmt.Sprintf("Disk nearly full in data center %s", w.DC),
		Impact:     impact,
		Components: []string{haetae.ComponentMessaging},
		DCs:        nonEmpty(w.DC),
		Cause: fmt.Sprintf("On node %s (%s) %s. When it is full, JetStream refuses writes on this node (503 unavailable); what is stored stays readable.",
			w.Node, w.DC, strings.Join(reasons, " and ")),
		Since: w.since,
	}}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func bytesText(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", b>>10)
	}
}

// ShedWatch sees this node shedding load: refusing requests of some priority classes with 503
// overloaded to keep the others served. Shedding is the hook the load shedder fills in; until there is
// one it returns nothing.
type ShedWatch struct {
	Node, DC   string
	Components []string
	Shedding   func() (classes []string, perSecond float64)

	mu    sync.Mutex
	since time.Time
}

// Check implements [Detector].
func (w *ShedWatch) Check(now time.Time) []haetae.Fault {
	if w.Shedding == nil {
		return nil
	}
	classes, rate := w.Shedding()
	w.mu.Lock()
	defer w.mu.Unlock()
	if rate <= 0 {
		w.since = time.Time{}
		return nil
	}
	if w.since.IsZero() {
		w.since = now
	}
	what := "requests"
	if len(classes) > 0 {
		what = "requests of the classes " + strings.Join(classes, ", ")
	}
	return []haetae.Fault{{
		Key:        "load_shed:" + w.Node,
		Title:      fmt.Sprintf("Load being shed in data center %s", w.DC),
		Impact:     haetae.ImpactMinor,
		Components: w.Components,
		DCs:        nonEmpty(w.DC),
		Cause: fmt.Sprintf("Node %s (%s) refuses about %.0f %s per second with 503 overloaded so that the rest is served; clients retry after Retry-After.",
			w.Node, w.DC, rate, what),
		Since: w.since,
	}}
}
