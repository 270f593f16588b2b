package node_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

func mustStatus(tb testing.TB, base string) *haetae.Status {
	tb.Helper()
	st, err := testnode.Status(tb, base)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func mustHistory(tb testing.TB, base string) []*haetae.Incident {
	tb.Helper()
	list, err := testnode.Incidents(tb, base)
	if err != nil {
		tb.Fatal(err)
	}
	return list
}

var (
	ofFault = testnode.OfFault
	summary = testnode.Summary
)

// TestIncidentsOnAClusterFault is the drill of issue 5 on in-process nodes (the Docker drill repeats it
// with real containers): a stopped data center opens one incident naming it, seen from both survivors
// within 15 s, which resolves when it comes back, with timestamps that bracket the fault. A node left
// alone says on its page that it has no quorum and shows its own incident; after healing, every node
// serves one history.
func TestIncidentsOnAClusterFault(t *testing.T) {
	cfgs := testnode.ClusterConfigs(t, 3)
	for i := range cfgs {
		cfgs[i].StatusGrace = time.Second // the detectors judge a silence a second after start
	}
	c := testnode.StartCluster(t, cfgs)
	urls := c.URLs()

	// Everyone present, as every node sees it.
	testnode.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		for i, u := range urls {
			st := mustStatus(t, u)
			if len(st.DCs) != 3 || st.Overall != haetae.StateOperational {
				return fmt.Errorf("node %d before the fault: %+v", i+1, st)
			}
		}
		return nil
	})

	stopped := time.Now()
	c.Stop(2)
	var opened time.Duration
	var inc *haetae.Incident
	testnode.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		for _, i := range []int{0, 1} {
			list := ofFault(mustHistory(t, urls[i]), "dc_unreachable:dc3")
			if len(list) != 1 || !list[0].Open() {
				return fmt.Errorf("node %d shows %s", i+1, summary(list))
			}
			if inc != nil && list[0].ID != inc.ID {
				return fmt.Errorf("node 1 shows %s, node 2 shows %s", inc.ID, list[0].ID)
			}
			inc = list[0]
		}
		return nil
	})
	opened = time.Since(stopped)
	t.Logf("dc3 stopped; its incident %s was visible on both survivors after %s", inc.ID, opened.Round(time.Millisecond))
	if !slices.Contains(inc.DCs, "dc3") || !strings.Contains(inc.Title, "dc3") || inc.Cause == "" {
		t.Fatalf("the incident does not name dc3 and a cause: %+v", inc)
	}
	testnode.CheckFor(t, 10*time.Second, 200*time.Millisecond, func() error {
		list := ofFault(mustHistory(t, urls[0]), "dc_unreachable:dc3")
		if len(list) != 1 || len(list[0].SeenBy) != 2 {
			return fmt.Errorf("want one incident seen from dc1 and dc2: %+v", list)
		}
		inc = list[0]
		return nil
	})
	if st := mustStatus(t, urls[1]); st.Overall != haetae.StateDegraded || len(st.OpenIncidents) == 0 || st.DCs[2].State != haetae.StateUnreachable {
		t.Fatalf("status on dc2 while dc3 is lost: %+v", st)
	}

	restarted := time.Now()
	c.Restart(2)
	testnode.CheckFor(t, 45*time.Second, 200*time.Millisecond, func() error {
		for i, u := range urls {
			list := ofFault(mustHistory(t, u), "dc_unreachable:dc3")
			if len(list) != 1 || list[0].Open() {
				return fmt.Errorf("node %d shows %s", i+1, summary(list))
			}
			inc = list[0]
		}
		return nil
	})
	if inc.StartedAt.After(stopped) || stopped.Sub(inc.StartedAt) > 6*time.Second || inc.ResolvedAt.Before(restarted) {
		t.Fatalf("dc3 was down from %s to %s; the incident says %s to %s", stopped, restarted, inc.StartedAt, inc.ResolvedAt)
	}
	t.Logf("incident %s: %s → %s brackets the fault %s → %s", inc.ID, inc.StartedAt.Format(time.RFC3339Nano), inc.ResolvedAt.Format(time.RFC3339Nano),
		stopped.Format(time.RFC3339Nano), restarted.Format(time.RFC3339Nano))
	r := testnode.Do(t, "GET", urls[0]+"/v1/incidents/"+inc.ID, "", nil)
	var one haetae.Incident
	r.JSON(t, &one)
	if r.Status != 200 || len(one.Affected) == 0 || one.Affected[0].Seconds < 1 {
		t.Fatalf("GET /v1/incidents/%s: %d %s", inc.ID, r.Status, r.Body)
	}

	// dc1 alone: stop dc2 and dc3 together.
	alone := time.Now()
	var wg sync.WaitGroup
	for _, i := range []int{1, 2} {
		wg.Add(1)
		go func() { defer wg.Done(); c.Stop(i) }()
	}
	wg.Wait()
	testnode.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		st := mustStatus(t, urls[0])
		own := ofFault(st.OpenIncidents, "dc_unreachable:dc1")
		if st.Quorum || len(own) != 1 || !own[0].Local || own[0].Impact != haetae.ImpactMajor {
			return fmt.Errorf("dc1 alone: quorum %v, open %s", st.Quorum, summary(st.OpenIncidents))
		}
		page := testnode.Do(t, "GET", urls[0]+"/status", "", nil)
		if page.Status != 200 || !strings.Contains(string(page.Body), "cut off from the majority") || !strings.Contains(string(page.Body), own[0].ID) {
			return fmt.Errorf("dc1's page does not say it has no quorum and show %s: %d", own[0].ID, page.Status)
		}
		return nil
	})
	t.Logf("dc1 alone: its page says it has no quorum %s after the others stopped", time.Since(alone).Round(time.Millisecond))

	healed := time.Now()
	c.Restart(1)
	c.Restart(2)
	var final string
	testnode.CheckFor(t, 90*time.Second, 500*time.Millisecond, func() error {
		var views []string
		for i, u := range urls {
			list := mustHistory(t, u)
			for _, inc := range list {
				if inc.Local || inc.Open() {
					return fmt.Errorf("node %d still shows %s", i+1, summary(list))
				}
			}
			if n := len(ofFault(list, "dc_unreachable:dc1")); n != 1 {
				return fmt.Errorf("node %d shows %d incidents of dc1 cut off: %s", i+1, n, summary(list))
			}
			views = append(views, summary(list))
		}
		if views[0] != views[1] || views[1] != views[2] {
			return fmt.Errorf("the histories differ:\n%s\n%s\n%s", views[0], views[1], views[2])
		}
		final = views[0]
		return nil
	})
	t.Logf("one history everywhere %s after healing: %s", time.Since(healed).Round(time.Millisecond), final)
	own := ofFault(mustHistory(t, urls[2]), "dc_unreachable:dc1")[0]
	if alone.Sub(own.StartedAt) > 6*time.Second || own.ResolvedAt.Before(healed) {
		t.Fatalf("dc1 was alone from %s to %s; its incident says %s to %s", alone, healed, own.StartedAt, own.ResolvedAt)
	}
	if !slices.ContainsFunc(own.Updates, func(u haetae.Update) bool { return u.By == "dc1" }) || own.Impact != haetae.ImpactMajor {
		t.Fatalf("what dc1 saw alone is not in the history: %+v", own)
	}
}
