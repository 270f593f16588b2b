package status_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/status"
)

// faults is a detector the test sets: the fault injection point. Everything else — the store, the
// journal file, the merging — is real.
type faults struct {
	mu   sync.Mutex
	list []haetae.Fault
}

func (f *faults) set(list ...haetae.Fault) {
	f.mu.Lock()
	f.list = list
	f.mu.Unlock()
}

func (f *faults) Check(time.Time) []haetae.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

// quorum is a switchable quorum check.
type quorum struct {
	mu  sync.Mutex
	err error
}

func (q *quorum) set(err error) { q.mu.Lock(); q.err = err; q.mu.Unlock() }
func (q *quorum) check() error  { q.mu.Lock(); defer q.mu.Unlock(); return q.err }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(t time.Time) *clock        { return &clock{t: t} }
func quiet() *slog.Logger                { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func dcFault(dc string, since time.Time) haetae.Fault {
	return haetae.Fault{Key: "dc_unreachable:" + dc, Title: "Data center " + dc + " unreachable", Impact: haetae.ImpactMinor,
		Components: []string{"messaging"}, DCs: []string{dc}, Cause: "test cause", Since: since}
}

type member struct {
	svc *status.Service
	det *faults
	q   *quorum
}

// newMember is one node's incident service on the shared (real, JetStream) store.
func newMember(tb testing.TB, store status.Store, node, dc, journal string, clk *clock) *member {
	tb.Helper()
	m := &member{det: &faults{}, q: &quorum{}}
	m.svc = status.New(status.Config{
		Node: node, DC: dc, Store: store, Detectors: []status.Detector{m.det}, Quorum: m.q.check,
		JournalPath: journal, Now: clk.now, Settle: time.Nanosecond, Logger: quiet(),
	})
	return m
}

func mustIncidents(tb testing.TB, store status.Store) []*haetae.Incident {
	tb.Helper()
	list, err := store.List(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	// The node under the store runs its own detectors; a machine short of disk space would add its
	// incident, which is not the subject here.
	list = slices.DeleteFunc(list, func(inc *haetae.Incident) bool { return strings.HasPrefix(inc.Fault, "disk_full:") })
	haetae.SortIncidents(list)
	return list
}

func TestConvergence(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	store := n.Store.Incidents
	clk := newClock(time.Now().Add(-time.Hour).Truncate(time.Second))
	a := newMember(t, store, "a", "dc1", "", clk)
	b := newMember(t, store, "b", "dc2", "", clk)
	c := newMember(t, store, "c", "dc3", "", clk)
	lost := clk.now().Add(-3 * time.Second)

	t.Run("ThreeNodesOneIncident", func(t *testing.T) {
		for _, m := range []*member{a, b, c} {
			m.det.set(dcFault("dc4", lost))
		}
		var wg sync.WaitGroup
		for _, m := range []*member{a, b, c} {
			wg.Add(1)
			go func() { defer wg.Done(); m.svc.Tick() }()
		}
		wg.Wait()
		list := mustIncidents(t, store)
		if len(list) != 1 {
			t.Fatalf("%d incidents, want 1: %+v", len(list), list)
		}
		inc := list[0]
		if inc.ID != "dc_unreachable-dc4-1" || !inc.Open() || len(inc.SeenBy) != 3 || !inc.StartedAt.Equal(lost) || !inc.Auto {
			t.Fatalf("incident: %+v", inc)
		}
	})
	t.Run("LastViewOutResolves", func(t *testing.T) {
		clk.advance(time.Minute)
		a.det.set()
		a.svc.Tick()
		if inc := mustIncidents(t, store)[0]; !inc.Open() || len(inc.SeenBy) != 2 {
			t.Fatalf("after one node left: %+v", inc)
		}
		clk.advance(time.Second)
		back := clk.now()
		b.det.set()
		c.det.set()
		b.svc.Tick()
		c.svc.Tick()
		inc := mustIncidents(t, store)[0]
		if inc.Open() || inc.ResolvedAt == nil || !inc.ResolvedAt.Equal(back) || len(inc.SeenBy) != 0 {
			t.Fatalf("after all left: %+v", inc)
		}
	})
	t.Run("SameFaultAgainIsANewIncident", func(t *testing.T) {
		clk.advance(time.Hour)
		b.det.set(dcFault("dc4", clk.now()))
		b.svc.Tick()
		list := mustIncidents(t, store)
		if len(list) != 2 || list[0].ID != "dc_unreachable-dc4-2" || !list[0].Open() {
			t.Fatalf("history: %v", ids(list))
		}
		// A node that never saw the first one joins the second.
		a.det.set(dcFault("dc4", clk.now()))
		a.svc.Tick()
		if inc := mustIncidents(t, store)[0]; len(inc.SeenBy) != 2 {
			t.Fatalf("second incident views: %+v", inc.SeenBy)
		}
	})
}

func ids(list []*haetae.Incident) []string {
	var out []string
	for _, inc := range list {
		out = append(out, fmt.Sprintf("%s(%s)", inc.ID, inc.Status))
	}
	return out
}

// TestCutOffNodeKeepsAndMerges: a node without a majority keeps its incident in its journal (a file
// that survives a restart), serves it marked local, and merges it once it can write; merging twice adds
// nothing.
func TestCutOffNodeKeepsAndMerges(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	store := n.Store.Incidents
	clk := newClock(time.Now().Add(-time.Hour).Truncate(time.Second))
	journal := filepath.Join(t.TempDir(), "incidents-local.json")
	a := newMember(t, store, "a", "dc1", journal, clk)
	a.q.set(errors.New("reaches 1 of 3"))
	cut := clk.now()
	a.det.set(haetae.Fault{Key: "dc_unreachable:dc1", Title: "Data center dc1 cut off", Impact: haetae.ImpactMajor, Components: []string{"messaging"}, DCs: []string{"dc1"}, Cause: "alone", Since: cut})
	a.svc.Tick()
	if got := mustIncidents(t, store); len(got) != 0 {
		t.Fatalf("a cut-off node wrote the replicated history: %v", ids(got))
	}
	list, _ := a.svc.Incidents(context.Background(), 0)
	if len(list) != 1 || !list[0].Local || !list[0].Open() {
		t.Fatalf("a cut-off node serves %+v", list)
	}
	st, _ := a.svc.Status(context.Background())
	if st.Quorum || len(st.OpenIncidents) != 1 || st.Overall != haetae.StateDegraded {
		t.Fatalf("status of a cut-off node: %+v", st)
	}

	// Restart: a new service on the same journal still has it.
	a = newMember(t, store, "a", "dc1", journal, clk)
	a.q.set(errors.New("reaches 1 of 3"))
	a.det.set(haetae.Fault{Key: "dc_unreachable:dc1", Title: "Data center dc1 cut off", Impact: haetae.ImpactMajor, Components: []string{"messaging"}, DCs: []string{"dc1"}, Cause: "alone", Since: cut})
	if list, _ := a.svc.Incidents(context.Background(), 0); len(list) != 1 || !list[0].Local {
		t.Fatalf("after a restart the journal is lost: %+v", list)
	}
	a.svc.Tick()

	// Healed: the fault is gone, the node can write, and the incident lands resolved, once.
	clk.advance(90 * time.Second)
	healed := clk.now()
	a.q.set(nil)
	a.det.set()
	a.svc.Tick()
	a.svc.Tick()
	got := mustIncidents(t, store)
	if len(got) != 1 {
		t.Fatalf("history after the merge: %v", ids(got))
	}
	inc := got[0]
	if inc.ID != "dc_unreachable-dc1-1" || inc.Open() || inc.Local || !inc.StartedAt.Equal(cut) || !inc.ResolvedAt.Equal(healed) {
		t.Fatalf("merged incident: %+v", inc)
	}
	if list, _ := a.svc.Incidents(context.Background(), 0); len(list) != 1 || list[0].Local {
		t.Fatalf("served after the merge: %+v", list)
	}
	updates := len(inc.Updates)
	a.svc.Tick()
	if again := mustIncidents(t, store); len(again) != 1 || len(again[0].Updates) != updates {
		t.Fatalf("a second tick changed the merged incident: %+v", again)
	}
}

// TestPeopleIncidents: stages only move forward, a postmortem closes the story, the affected time is
// reported per component.
func TestPeopleIncidents(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	clk := newClock(time.Now().Truncate(time.Second))
	a := newMember(t, n.Store.Incidents, "a", "dc1", "", clk)
	ctx := context.Background()
	inc, err := a.svc.CreateIncident(ctx, haetae.NewIncident{Title: "Logins fail", Impact: "major", Components: []string{"accounts"}, Cause: "an expired certificate"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		clk.advance(30 * time.Minute)
		if _, err := a.svc.AddUpdate(ctx, inc.ID, haetae.NewUpdate{Status: "identified", Text: "certificate expired", Components: []string{"accounts", "messaging"}}); err != nil {
			t.Fatal(err)
		}
		clk.advance(2 * time.Hour)
		done, err := a.svc.AddUpdate(ctx, inc.ID, haetae.NewUpdate{Status: "resolved", Text: "renewed"})
		if err != nil || done.Open() {
			t.Fatalf("resolve: %v %+v", err, done)
		}
		if _, err := a.svc.AddUpdate(ctx, inc.ID, haetae.NewUpdate{Status: "resolved", Postmortem: "Renewal was manual; now it is automatic."}); err != nil {
			t.Fatal(err)
		}
		got, err := a.svc.Incident(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		aff := map[string]int64{}
		for _, x := range got.Affected {
			aff[x.Component] = x.Seconds
		}
		if aff["accounts"] != 9000 || aff["messaging"] != 7200 || got.Postmortem == "" {
			t.Fatalf("affected %v, postmortem %q", aff, got.Postmortem)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		if _, err := a.svc.AddUpdate(ctx, inc.ID, haetae.NewUpdate{Status: "monitoring", Text: "again?"}); haetae.ErrorCode(err) != haetae.EConflict {
			t.Fatalf("moving a resolved incident back: %v", err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := a.svc.AddUpdate(ctx, "nope", haetae.NewUpdate{Status: "resolved", Text: "x"}); haetae.ErrorCode(err) != haetae.ENotFound {
			t.Fatalf("update of an unknown incident: %v", err)
		}
		if _, err := a.svc.Incident(ctx, "../x"); haetae.ErrorCode(err) != haetae.ENotFound {
			t.Fatalf("a malformed id: %v", err)
		}
	})
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// TestOrphanViewIsLeft: an open incident that names this node as a view, for a fault this node neither
// sees nor reports (its report was lost), is left, so it cannot stay open for good.
func TestOrphanViewIsLeft(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	store := n.Store.Incidents
	clk := newClock(time.Now().Truncate(time.Second))
	a := newMember(t, store, "a", "dc1", "", clk)
	since := clk.now().Add(-time.Minute)
	orphan := &haetae.Incident{ID: "dc_unreachable-dc9-1", Title: "Data center dc9 unreachable", Impact: "minor", Status: "investigating",
		Components: []string{"messaging"}, StartedAt: since, Auto: true, Fault: "dc_unreachable:dc9",
		SeenBy:  []haetae.View{{Node: "a", DC: "dc1", Since: since}},
		Updates: []haetae.Update{{At: since, Status: "investigating", Text: "Detected by dc1 (node a).", Components: []string{"messaging"}, By: "a"}}}
	if err := store.Create(t.Context(), orphan); err != nil {
		t.Fatal(err)
	}
	a.svc.Start() // reads the history
	defer a.svc.Close()
	clk.advance(time.Second)
	a.svc.Tick()
	got := mustIncidents(t, store)
	if len(got) != 1 || got[0].Open() || got[0].ResolvedAt == nil {
		t.Fatalf("the orphaned incident: %+v", got)
	}
}
