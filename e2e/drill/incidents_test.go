package drill

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/dctest"
	"github.com/haetae/haetae/internal/testnode"
)

// TestIncidentsDrill is issue 5's proof on containers: docker kill of a DC opens one incident naming it
// within 15 s (the requirement, so unlike the drills' speeds it is asserted), seen from both
// surviving DCs; starting it again resolves the incident, whose timestamps
// bracket the fault. A DC cut off the inter-DC network (docker network disconnect) says on its page that
// it has no quorum and shows its own incident; after the link is back, every DC serves one history.
func TestIncidentsDrill(t *testing.T) {
	c := dctest.Start(t, dctest.Options{})
	urls := c.URLs()
	testnode.CheckFor(t, 60*time.Second, 500*time.Millisecond, func() error {
		for i, u := range urls {
			st, err := testnode.Status(t, u)
			if err != nil {
				return err
			}
			if len(st.DCs) != 3 || st.Overall != haetae.StateOperational {
				return fmt.Errorf("%s before the fault: %+v", c.DC(i), st)
			}
		}
		return nil
	})
	time.Sleep(11 * time.Second) // past the detectors' start-up grace, so a silence is judged

	killed := time.Now()
	c.Kill(2)
	dead := time.Now() // the kill took effect somewhere between killed and dead
	var inc *haetae.Incident
	testnode.CheckFor(t, 15*time.Second, 200*time.Millisecond, func() error {
		inc = nil
		for _, i := range []int{0, 1} {
			list, err := testnode.Incidents(t, urls[i])
			if err != nil {
				return err
			}
			mine := testnode.OfFault(list, "dc_unreachable:dc3")
			if len(mine) != 1 || !mine[0].Open() {
				return fmt.Errorf("%s shows %s", c.DC(i), testnode.Summary(mine))
			}
			if inc != nil && inc.ID != mine[0].ID {
				return fmt.Errorf("dc1 shows %s, dc2 shows %s", inc.ID, mine[0].ID)
			}
			inc = mine[0]
		}
		return nil
	})
	t.Logf("docker kill dc3: incident %s on both survivors after %s: %s", inc.ID, time.Since(killed).Round(time.Millisecond), inc.Cause)
	if !slices.Contains(inc.DCs, "dc3") || !strings.Contains(inc.Title, "dc3") {
		t.Fatalf("the incident does not name dc3: %+v", inc)
	}

	restarted := time.Now()
	c.Start(2)
	c.WaitReady()
	testnode.CheckFor(t, 90*time.Second, time.Second, func() error {
		for i, u := range urls {
			list, err := testnode.Incidents(t, u)
			if err != nil {
				return err
			}
			mine := testnode.OfFault(list, "dc_unreachable:dc3")
			if len(mine) != 1 || mine[0].Open() || mine[0].Local {
				return fmt.Errorf("%s shows %s", c.DC(i), testnode.Summary(mine))
			}
			inc = mine[0]
		}
		return nil
	})
	if inc.StartedAt.After(dead) || killed.Sub(inc.StartedAt) > 6*time.Second || inc.ResolvedAt.Before(restarted) {
		t.Fatalf("dc3 was down from %s to %s; its incident says %s to %s", killed, restarted, inc.StartedAt, inc.ResolvedAt)
	}
	t.Logf("incident %s: %s → %s brackets the fault %s → %s", inc.ID, inc.StartedAt.Format(time.RFC3339Nano),
		inc.ResolvedAt.Format(time.RFC3339Nano), killed.Format(time.RFC3339Nano), restarted.Format(time.RFC3339Nano))

	cut := time.Now()
	c.Disconnect(0)
	var own *haetae.Incident
	testnode.CheckFor(t, 40*time.Second, 500*time.Millisecond, func() error {
		st, err := testnode.Status(t, urls[0])
		if err != nil {
			return err
		}
		mine := testnode.OfFault(st.OpenIncidents, "dc_unreachable:dc1")
		if st.Quorum || len(mine) != 1 || mine[0].Impact != haetae.ImpactMajor {
			return fmt.Errorf("dc1 cut off: quorum %v, open %s", st.Quorum, testnode.Summary(st.OpenIncidents))
		}
		own = mine[0]
		page := testnode.Do(t, "GET", urls[0]+"/status", "", nil)
		if page.Status != 200 || !strings.Contains(string(page.Body), "cut off from the majority") || !strings.Contains(string(page.Body), own.ID) {
			return fmt.Errorf("dc1's page does not say it has no quorum and show %s", own.ID)
		}
		for _, i := range []int{1, 2} {
			list, err := testnode.Incidents(t, urls[i])
			if err != nil {
				return err
			}
			if lost := testnode.OfFault(list, "dc_unreachable:dc1"); len(lost) != 1 || !lost[0].Open() {
				return fmt.Errorf("%s shows %s for dc1", c.DC(i), testnode.Summary(lost))
			}
		}
		return nil
	})
	said := time.Now()
	t.Logf("dc1 cut off: its page says it has no quorum and shows %s (local %v) after %s", own.ID, own.Local, said.Sub(cut).Round(time.Millisecond))

	healed := time.Now()
	c.Reconnect(0)
	c.WaitReady()
	var final string
	testnode.CheckFor(t, 120*time.Second, time.Second, func() error {
		var views []string
		for i, u := range urls {
			list, err := testnode.Incidents(t, u)
			if err != nil {
				return err
			}
			for _, x := range list {
				if x.Local || x.Open() {
					return fmt.Errorf("%s still shows %s", c.DC(i), testnode.Summary(list))
				}
			}
			ofDC1 := testnode.OfFault(list, "dc_unreachable:dc1")
			if n := len(ofDC1); n != 1 {
				return fmt.Errorf("%s shows %d incidents of dc1 cut off: %s", c.DC(i), n, testnode.Summary(list))
			}
			// What dc1 saw alone is merged in once dc1 can write again, and reaches each node's view
			// when that node hears of the change: until then a node may show the majority's version.
			if mine := ofDC1[0]; !slices.ContainsFunc(mine.Updates, func(u haetae.Update) bool { return u.By == "dc1" }) || mine.Impact != haetae.ImpactMajor {
				return fmt.Errorf("%s does not show what dc1 saw alone: %+v", c.DC(i), mine)
			}
			views = append(views, testnode.Summary(list))
		}
		if views[0] != views[1] || views[1] != views[2] {
			return fmt.Errorf("the histories differ:\n%s\n%s\n%s", views[0], views[1], views[2])
		}
		final = views[0]
		return nil
	})
	t.Logf("one history on every DC %s after the link came back: %s", time.Since(healed).Round(time.Millisecond), final)
	list, err := testnode.Incidents(t, urls[1])
	if err != nil {
		t.Fatal(err)
	}
	mine := testnode.OfFault(list, "dc_unreachable:dc1")[0]
	// It began at dc1's last sight of a majority: before the page said so, and at most a few
	// announcements (2 s apart) before the cut.
	if mine.StartedAt.After(said) || cut.Sub(mine.StartedAt) > 6*time.Second || mine.ResolvedAt.Before(healed) {
		t.Fatalf("dc1 was cut off from %s to %s; its incident says %s to %s", cut, healed, mine.StartedAt, mine.ResolvedAt)
	}
}
