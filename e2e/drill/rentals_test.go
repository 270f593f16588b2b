package drill

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/dctest"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/vehiclesim"
)

// The rental drills run in real time: containers have no clock a test can move. A fare is per started
// minute, so each drill makes the wrong bill (riding time plus the outage) at least one minute longer
// than the right one, and checks the exact end and seconds besides.

// rentalRider registers a user on the node at base and returns its token.
func rentalRider(t *testing.T, base, name string) string {
	t.Helper()
	var token string
	testnode.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		r := testnode.DoJSON(t, "POST", base+"/v1/users", "", map[string]string{"name": name, "password": "password-" + name})
		if r.Status != 201 && r.ErrorCode() != haetae.ENameTaken {
			return fmt.Errorf("register %s: %d %s", name, r.Status, r.Body)
		}
		r = testnode.DoJSON(t, "POST", base+"/v1/sessions", "", map[string]string{"name": name, "password": "password-" + name})
		if r.Status != 200 {
			return fmt.Errorf("login %s: %d %s", name, r.Status, r.Body)
		}
		var s haetae.Session
		r.JSON(t, &s)
		token = s.Token
		return nil
	})
	return token
}

func rentalVehicle(t *testing.T, c *dctest.Cluster, id string) haetae.VehicleCredential {
	t.Helper()
	r := testnode.DoJSON(t, "POST", c.URL(0)+"/v1/vehicles", c.AdminToken(), map[string]string{"id": id})
	if r.Status != 201 {
		t.Fatalf("register vehicle %s: %d %s", id, r.Status, r.Body)
	}
	var cred haetae.VehicleCredential
	r.JSON(t, &cred)
	return cred
}

func rentalStart(t *testing.T, base, token, vehicle string) haetae.Rental {
	t.Helper()
	r := testnode.DoJSON(t, "POST", base+"/v1/rentals", token, map[string]string{"client_id": "drill-" + vehicle, "vehicle": vehicle})
	if r.Status != 201 {
		t.Fatalf("start a ride of %s: %d %s", vehicle, r.Status, r.Body)
	}
	var rental haetae.Rental
	r.JSON(t, &rental)
	return rental
}

func hostPort(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestRentalDrillKilledDCLateLock: a ride starts on dc1; dc1 is killed (SIGKILL); the vehicle locks
// while it reaches no data center (its own is dead, its path to dc2 is cut), keeps its report, and
// delivers it more than a minute later through dc2. The fare is for the riding time only.
func TestRentalDrillKilledDCLateLock(t *testing.T) {
	c := dctest.Start(t, dctest.Options{Env: map[string]string{"HAETAE_RENTAL_CLOSE_EVERY": "2s"}})
	alice := rentalRider(t, c.URL(0), "alice")
	cred := rentalVehicle(t, c, "S-1")
	pathToDC2 := testnode.NewLink(t, hostPort(t, c.URL(1)))

	var mu sync.Mutex
	var acked []haetae.VehicleEvent
	sim, err := vehiclesim.New(vehiclesim.Config{
		Endpoints: []string{c.URL(0), pathToDC2.URL()}, Vehicle: "S-1", Token: cred.Token,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second,
		OnAck: func(ev haetae.VehicleEvent, _ bool) { mu.Lock(); acked = append(acked, ev); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sim.Run(ctx) }()
	defer func() { cancel(); <-done }()

	rental := rentalStart(t, c.URL(0), alice, "S-1")
	if _, err := sim.Unlock(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second) // riding
	c.Kill(0)
	pathToDC2.Cut()
	lock, err := sim.Lock()
	if err != nil {
		t.Fatal(err)
	}
	testnode.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if a := sim.Attempts(); a < 3 {
			return fmt.Errorf("the lock failed to go out %d times so far", a)
		}
		return nil
	})
	time.Sleep(time.Until(lock.At.Add(70 * time.Second))) // the vehicle stays out of reach for over a minute
	pathToDC2.Restore()

	var got haetae.Rental
	testnode.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		r := testnode.Do(t, "GET", c.URL(1)+"/v1/rentals/"+rental.ID, alice, nil)
		if r.Status != 200 {
			return fmt.Errorf("get the rental through dc2: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &got)
		if got.Status != haetae.RentalReturned || len(sim.Pending()) > 0 {
			// The node acknowledges before the vehicle takes the report out of its outbox.
			return fmt.Errorf("not ended yet, or its report not acknowledged yet (reports pending: %d)", len(sim.Pending()))
		}
		return nil
	})
	// The ride ends at the lock. Seconds of it may be excluded: an incident of major impact naming
	// rentals (the rentals bucket without a leader for the seconds of an election, if dc1 led it).
	want := haetae.BillSpan(haetae.DefaultFareRules, got.StartedAt, lock.At, nil)
	if !got.EndedAt.Equal(lock.At) || got.EndedBy != haetae.EndedByVehicle ||
		*got.BilledSeconds+*got.ExcludedSeconds != want.BilledSeconds ||
		*got.FareWon != haetae.Fare(haetae.DefaultFareRules, (*got.BilledSeconds+59)/60) {
		t.Fatalf("ended %s by %s, %d s billed, %d s excluded, %d won; want the ride to the lock at %s: %d s",
			got.EndedAt, got.EndedBy, *got.BilledSeconds, *got.ExcludedSeconds, *got.FareWon, lock.At, want.BilledSeconds)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range acked {
		if ev.ClientID == lock.ClientID {
			late := ev.ReceivedAt.Sub(ev.At)
			wrong := haetae.BillSpan(haetae.DefaultFareRules, got.StartedAt, ev.ReceivedAt, nil)
			t.Logf("killed-DC drill: rode %d s (%d s excluded); the lock arrived %s late through dc2; fare %d won (billing to the arrival would have been %d won)",
				want.BilledSeconds, *got.ExcludedSeconds, late.Round(time.Second), *got.FareWon, wrong.FareWon)
			if late < time.Minute || wrong.FareWon <= *got.FareWon {
				t.Fatalf("the lock arrived only %s late: the drill proves nothing", late)
			}
			return
		}
	}
	t.Fatalf("the lock %s was never acknowledged: %+v", lock.ClientID, acked)
}

// TestRentalDrillPartitionedReturn: the rider's data center is taken off the inter-DC network (docker
// network disconnect) while the rider still reaches it; every return is refused with no_quorum for
// over a minute. When it is back, the return is taken and the minutes without quorum are excluded.
func TestRentalDrillPartitionedReturn(t *testing.T) {
	c := dctest.Start(t, dctest.Options{})
	dc1 := c.URL(0)
	alice := rentalRider(t, dc1, "alice")
	rentalVehicle(t, c, "S-2")
	rental := rentalStart(t, dc1, alice, "S-2")
	returnIt := func() *testnode.Response {
		return testnode.DoJSON(t, "POST", dc1+"/v1/rentals/"+rental.ID+"/return", alice, map[string]string{"client_id": "drill-return"})
	}
	time.Sleep(10 * time.Second) // riding

	c.Disconnect(0)
	cut := time.Now()
	// A return sent before dc1 knows it is cut off waits for a commit that cannot come; wait until it
	// refuses at once.
	testnode.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if r := testnode.Do(t, "GET", dc1+"/readyz", "", nil); r.ErrorCode() != haetae.ENoQuorum {
			return fmt.Errorf("dc1 /readyz while cut off: %d %s", r.Status, r.Body)
		}
		return nil
	})
	noticed := time.Since(cut)
	refused := 0
	for time.Since(cut) < 75*time.Second {
		if r := returnIt(); r.Status != 503 || r.ErrorCode() != haetae.ENoQuorum {
			t.Fatalf("return while cut off: %d %s", r.Status, r.Body)
		}
		refused++
		time.Sleep(5 * time.Second) // the rider tries again now and then
	}
	c.Reconnect(0)
	healed := time.Now()
	var got haetae.Rental
	testnode.CheckFor(t, 90*time.Second, 200*time.Millisecond, func() error {
		r := returnIt()
		if r.Status != 200 {
			return fmt.Errorf("return after the heal: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &got)
		return nil
	})
	ride := int64(got.EndedAt.Truncate(time.Second).Sub(got.StartedAt.Truncate(time.Second)) / time.Second)
	wrong := haetae.Fare(haetae.DefaultFareRules, (ride+59)/60)
	t.Logf("partition drill: ride %d s, %d returns refused with no_quorum, dc1 noticed the cut after %s; excluded %d s, billed %d s, fare %d won (without the exclusion %d won)",
		ride, refused, noticed.Round(time.Millisecond), *got.ExcludedSeconds, *got.BilledSeconds, *got.FareWon, wrong)
	// Billed are the 10 s of riding, the seconds dc1 took to notice the cut, and those from when it
	// had a majority again until the return was taken; everything between is excluded.
	if got.EndedBy != haetae.EndedByReturn || *got.ExcludedSeconds < int64(healed.Sub(cut.Add(noticed))/time.Second)-2 ||
		*got.BilledSeconds+*got.ExcludedSeconds != ride || *got.BilledSeconds > 10+int64(noticed/time.Second)+20 {
		t.Fatalf("rental %+v: the minutes without quorum were billed", got)
	}
	if *got.FareWon != haetae.Fare(haetae.DefaultFareRules, (*got.BilledSeconds+59)/60) || *got.FareWon >= wrong {
		t.Fatalf("fare %d won for %d billed seconds; without the exclusion it would be %d", *got.FareWon, *got.BilledSeconds, wrong)
	}
}
