package vehiclesim_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/vehiclesim"
)

const adminToken = "admin-token-for-tests-0123456789"

// run starts sim.Run and returns a function that stops it and waits.
func run(sim *vehiclesim.Simulator) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sim.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// TestLateDeliveryAfterRestart: a vehicle locks while its link is down; its report fails, is kept in
// the outbox across a restart of the vehicle, and is delivered when the link comes back, half an hour
// late. The ride ends at the lock, by the vehicle's clock.
func TestLateDeliveryAfterRestart(t *testing.T) {
	clock := testnode.NewClock(time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC))
	cfg := testnode.Config(t)
	cfg.AdminToken = adminToken
	cfg.Store.Now = clock.Now
	n := testnode.MustStart(t, cfg)
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	var cred haetae.VehicleCredential
	testnode.DoJSON(t, "POST", base+"/v1/vehicles", adminToken, map[string]string{"id": "S-7"}).JSON(t, &cred)
	var rental haetae.Rental
	testnode.DoJSON(t, "POST", base+"/v1/rentals", alice, map[string]string{"client_id": "ride", "vehicle": "S-7"}).JSON(t, &rental)

	link := testnode.NewLink(t, n.Addr())
	simCfg := vehiclesim.Config{
		Endpoints:  []string{link.URL()},
		Vehicle:    "S-7",
		Token:      cred.Token,
		Now:        clock.Now,
		OutboxFile: filepath.Join(t.TempDir(), "outbox.json"),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
	}
	sim, err := vehiclesim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(sim)
	if _, err := sim.Unlock(); err != nil {
		t.Fatal(err)
	}
	testnode.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if p := sim.Pending(); len(p) > 0 {
			return fmt.Errorf("unlock not acknowledged: %+v", p)
		}
		return nil
	})

	link.Cut()
	clock.Advance(8 * time.Minute)
	lock, err := sim.Lock()
	if err != nil {
		t.Fatal(err)
	}
	testnode.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if a := sim.Attempts(); a < 3 {
			return fmt.Errorf("%d failed attempts to deliver the lock so far", a)
		}
		return nil
	})
	stop() // the vehicle restarts; its outbox file keeps the lock

	sim, err = vehiclesim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := sim.Pending(); len(p) != 1 || p[0].ClientID != lock.ClientID {
		t.Fatalf("after a restart the outbox holds %+v, want the lock %+v", p, lock)
	}
	clock.Advance(30 * time.Minute)
	link.Restore()
	stop = run(sim)
	defer stop()
	testnode.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		r := testnode.Do(t, "GET", base+"/v1/rentals/"+rental.ID, alice, nil)
		if !strings.Contains(string(r.Body), `"status":"returned"`) {
			return fmt.Errorf("rental not ended by the late lock: %s", r.Body)
		}
		var got haetae.Rental
		r.JSON(t, &got)
		if *got.FareWon != 1000+8*150 || !got.EndedAt.Equal(lock.At) || got.EndedBy != haetae.EndedByVehicle {
			t.Fatalf("rental billed for more than the ride: %s", r.Body)
		}
		// The node acknowledges before the vehicle takes the report out of its outbox.
		if p := sim.Pending(); len(p) != 0 {
			return fmt.Errorf("acknowledged report still pending: %+v", p)
		}
		return nil
	})
}
