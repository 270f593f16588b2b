package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/node"
	"github.com/haetae/haetae/vehiclesim"
)

const rentalAdminToken = "admin-token-for-rental-tests-0123"

var rentalT0 = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC) // 10:00 KST

// newRentalCluster starts three nodes, dc1..dc3, whose rentals run on clock.
func newRentalCluster(t *testing.T, clock *testnode.Clock) *testnode.Cluster {
	t.Helper()
	cfgs := testnode.ClusterConfigs(t, 3)
	for i := range cfgs {
		cfgs[i].Store.Now = clock.Now
		cfgs[i].AdminToken = rentalAdminToken
	}
	return testnode.StartCluster(t, cfgs)
}

func mustRegisterVehicle(t *testing.T, base, id string) haetae.VehicleCredential {
	t.Helper()
	r := testnode.DoJSON(t, "POST", base+"/v1/vehicles", rentalAdminToken, map[string]string{"id": id})
	if r.Status != 201 {
		t.Fatalf("register vehicle %s: %d %s", id, r.Status, r.Body)
	}
	var cred haetae.VehicleCredential
	r.JSON(t, &cred)
	return cred
}

func mustStartRental(t *testing.T, base, token, clientID, vehicle string) haetae.Rental {
	t.Helper()
	r := testnode.DoJSON(t, "POST", base+"/v1/rentals", token, map[string]string{"client_id": clientID, "vehicle": vehicle})
	if r.Status != 201 {
		t.Fatalf("start rental: %d %s", r.Status, r.Body)
	}
	var rental haetae.Rental
	r.JSON(t, &rental)
	return rental
}

// checkRecomputes computes the fare again on n from the evidence kept with the rental.
func checkRecomputes(t *testing.T, n *node.Node, id string) haetae.Ride {
	t.Helper()
	r, ride, err := n.Rentals.Evidence(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := haetae.ComputeBill(ride)
	if !ok || b.FareWon != *r.FareWon || b.BilledSeconds != *r.BilledSeconds || b.ExcludedSeconds != *r.ExcludedSeconds {
		t.Fatalf("recomputed %+v from the evidence; the rental says %+v", b, r)
	}
	return ride
}

// TestRentalLateLockThroughAnotherDC: a ride starts on dc1; dc1 goes down; the vehicle locks while it
// can reach no data center (its own is down, its link to the others cut), keeps its report, and
// delivers it half an hour later through dc2. The fare is for the seven minutes of riding.
func TestRentalLateLockThroughAnotherDC(t *testing.T) {
	clock := testnode.NewClock(rentalT0)
	c := newRentalCluster(t, clock)
	dc1, dc2 := c.Nodes[0].URL(), c.Nodes[1].URL()
	alice := testnode.MustUser(t, dc1, "alice")
	cred := mustRegisterVehicle(t, dc1, "S-1")

	// The vehicle reaches the platform through its own data center and, on another path, through dc2.
	ownPath, otherPath := testnode.NewLink(t, c.Nodes[0].Addr()), testnode.NewLink(t, c.Nodes[1].Addr())
	sim, err := vehiclesim.New(vehiclesim.Config{
		Endpoints: []string{ownPath.URL(), otherPath.URL()}, Vehicle: "S-1", Token: cred.Token, Now: clock.Now,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sim.Run(ctx) }()
	defer func() { cancel(); <-done }()

	rental := mustStartRental(t, dc1, alice, "ride-1", "S-1")
	if _, err := sim.Unlock(); err != nil {
		t.Fatal(err)
	}
	testnode.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if p := sim.Pending(); len(p) > 0 {
			return fmt.Errorf("unlock not acknowledged yet: %+v", p)
		}
		return nil
	})

	clock.Advance(7 * time.Minute)
	c.Stop(0) // the rider's data center goes down
	otherPath.Cut()
	lock, err := sim.Lock()
	if err != nil {
		t.Fatal(err)
	}
	testnode.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if a := sim.Attempts(); a < 3 {
			return fmt.Errorf("the lock failed to go out only %d times so far", a)
		}
		return nil
	})
	clock.Advance(30 * time.Minute)
	otherPath.Restore()

	var got haetae.Rental
	testnode.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		r := testnode.Do(t, "GET", dc2+"/v1/rentals/"+rental.ID, alice, nil)
		if r.Status != 200 {
			return fmt.Errorf("get rental through dc2: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &got)
		if got.Status != haetae.RentalReturned {
			return fmt.Errorf("not ended yet: %s (pending reports %d)", r.Body, len(sim.Pending()))
		}
		return nil
	})
	if !got.EndedAt.Equal(lock.At) || got.EndedBy != haetae.EndedByVehicle || *got.BilledSeconds != 7*60 ||
		*got.ExcludedSeconds != 0 || *got.FareWon != 1000+7*150 {
		t.Fatalf("the fare should be for the 7 minutes ridden: ended %s by %s, %d s billed, %d s excluded, %d won",
			got.EndedAt, got.EndedBy, *got.BilledSeconds, *got.ExcludedSeconds, *got.FareWon)
	}
	ride := checkRecomputes(t, c.Nodes[1], rental.ID)
	var late bool
	for _, ev := range ride.Events {
		if ev.ClientID == lock.ClientID && ev.ReceivedAt.Sub(ev.At) == 30*time.Minute {
			late = true
		}
	}
	if !late {
		t.Fatalf("the lock in the evidence was not received 30 minutes late: %+v", ride.Events)
	}
}

// TestRentalNoQuorumNotBilled: the rider's data center is cut off from the other two, so for 20
// minutes every return is refused with no_quorum. The node's own watch of its quorum records the
// period; once a return is taken, the fare is for the 5 minutes ridden, not the 25.
func TestRentalNoQuorumNotBilled(t *testing.T) {
	clock := testnode.NewClock(rentalT0)
	c := newRentalCluster(t, clock)
	n1 := c.Nodes[0]
	dc1 := n1.URL()
	alice := testnode.MustUser(t, dc1, "alice")
	mustRegisterVehicle(t, dc1, "S-2")
	rental := mustStartRental(t, dc1, alice, "ride-2", "S-2")
	returnIt := func() *testnode.Response {
		return testnode.DoJSON(t, "POST", dc1+"/v1/rentals/"+rental.ID+"/return", alice, map[string]string{"client_id": "ret-2"})
	}

	clock.Advance(5 * time.Minute)
	c.Stop(1)
	c.Stop(2) // dc1 is alone: no majority
	cutAt := clock.Now()
	// Wait until dc1 knows it is cut off: a return sent before that would not be refused at once but
	// wait for a commit that cannot come yet (and land, at its own time, once the cut heals).
	testnode.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if r := testnode.Do(t, "GET", dc1+"/readyz", "", nil); r.Status != 503 || r.ErrorCode() != haetae.ENoQuorum {
			return fmt.Errorf("readyz without a majority: %d %s", r.Status, r.Body)
		}
		if since, cut := n1.NoQuorumSince(); !cut || !since.Equal(cutAt) {
			return fmt.Errorf("dc1 has not recorded the no-quorum period from %s yet (%v since %s)", cutAt, cut, since)
		}
		return nil
	})
	if r := returnIt(); r.Status != 503 || r.ErrorCode() != haetae.ENoQuorum {
		t.Fatalf("return without a majority: %d %s", r.Status, r.Body)
	}

	clock.Advance(20 * time.Minute)
	if r := returnIt(); r.Status != 503 || r.ErrorCode() != haetae.ENoQuorum {
		t.Fatalf("return 20 minutes into the cut: %d %s", r.Status, r.Body)
	}
	// Read from dc1's own replica, which answers no reads for a moment while its RAFT groups take in
	// that their leaders are gone ("no responders"): poll.
	testnode.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		ivs, err := n1.Downtime.Downtime(context.Background(), haetae.ComponentRentals, rentalT0, rentalT0.Add(time.Hour))
		if err != nil || len(ivs) != 1 || !ivs[0].From.Equal(cutAt) || !ivs[0].To.Equal(clock.Now()) {
			return fmt.Errorf("dc1's downtime 20 minutes into the cut: %+v %v", ivs, err)
		}
		return nil
	})
	healedAt := clock.Now()
	c.Restart(1)
	var got haetae.Rental
	testnode.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		r := returnIt()
		if r.Status != 200 {
			return fmt.Errorf("return after the heal: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &got)
		return nil
	})
	if !got.EndedAt.Equal(healedAt) || got.EndedBy != haetae.EndedByReturn || *got.BilledSeconds != 5*60 ||
		*got.ExcludedSeconds != 20*60 || *got.FareWon != 1000+5*150 {
		t.Fatalf("the fare should be for the 5 minutes ridden: ended %s by %s, %d s billed, %d s excluded, %d won",
			got.EndedAt, got.EndedBy, *got.BilledSeconds, *got.ExcludedSeconds, *got.FareWon)
	}
	checkRecomputes(t, n1, rental.ID)
	// The period is in the replicated record, where every node's billing finds it.
	testnode.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		ivs, err := c.Nodes[1].Store.Outages.Intervals(context.Background(), rentalT0, rentalT0.Add(time.Hour))
		if err != nil {
			return err
		}
		if len(ivs) != 1 || !ivs[0].From.Equal(cutAt) || !ivs[0].To.Equal(healedAt) {
			return fmt.Errorf("dc2's replica of the outage record: %+v, want [%s, %s)", ivs, cutAt, healedAt)
		}
		return nil
	})
}

// TestRentalIncidentExcluded: an incident of major impact that names the rentals component is
// excluded from a ride's fare; a minor one, which leaves returns working, is not.
func TestRentalIncidentExcluded(t *testing.T) {
	clock := testnode.NewClock(rentalT0)
	cfg := testnode.Config(t)
	cfg.Store.Now = clock.Now
	cfg.AdminToken = rentalAdminToken
	base := testnode.MustStart(t, cfg).URL()
	alice := testnode.MustUser(t, base, "alice")
	mustRegisterVehicle(t, base, "S-3")
	rental := mustStartRental(t, base, alice, "ride-3", "S-3")
	open := func(impact string, from time.Time) {
		t.Helper()
		r := testnode.DoJSON(t, "POST", base+"/v1/incidents", rentalAdminToken, map[string]any{
			"title": "Returns fail", "impact": impact, "components": []string{haetae.ComponentRentals},
			"cause": "a test", "started_at": from.Format(time.RFC3339),
		})
		if r.Status != 201 {
			t.Fatalf("open a %s incident: %d %s", impact, r.Status, r.Body)
		}
	}
	open(haetae.ImpactMinor, rentalT0.Add(time.Minute))
	open(haetae.ImpactMajor, rentalT0.Add(5*time.Minute)) // still open when the ride ends

	clock.Advance(30 * time.Minute)
	r := testnode.DoJSON(t, "POST", base+"/v1/rentals/"+rental.ID+"/return", alice, map[string]string{"client_id": "ret-3"})
	var got haetae.Rental
	r.JSON(t, &got)
	if r.Status != 200 || *got.ExcludedSeconds != 25*60 || *got.BilledSeconds != 5*60 || *got.FareWon != 1000+5*150 {
		t.Fatalf("the major incident's 25 minutes should be excluded, the minor one's billed: %d %s", r.Status, r.Body)
	}
}
