package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

func TestRideHelp(t *testing.T) {
	for _, args := range [][]string{
		{"ride"}, {"ride", "start"}, {"ride", "return"}, {"ride", "show"},
		{"vehicle"}, {"vehicle", "register"}, {"vehicle", "simulate"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(testCtx(t), append(args, "--help"), noEnv, strings.NewReader(""), &out, &errOut)
			help := out.String() + errOut.String()
			if code != 0 || !strings.Contains(help, "haetae "+strings.Join(args, " ")) || !strings.Contains(help, "Example") {
				t.Fatalf("exit %d; help of %q lacks its usage or an example:\n%s", code, args, help)
			}
		})
	}
}

// TestRideCommands: an operator registers two vehicles; a rider starts a ride that the simulated
// vehicle ends by reporting its lock, and another that the rider returns naming the lock time.
func TestRideCommands(t *testing.T) {
	ctx := testCtx(t)
	cfg := testnode.Config(t)
	cfg.AdminToken = "cli-admin-token-0123456789abcdef"
	n := testnode.MustStart(t, cfg)
	admin := newCLIUser(t, n.URL())
	alice := newCLIUser(t, n.URL())
	dir := t.TempDir()
	s1Token := filepath.Join(dir, "s1.token")
	if out := admin.mustRun(ctx, "", "vehicle", "register", "--admin-token", cfg.AdminToken, "--token-file", s1Token, "S-1"); !strings.Contains(out, "registered vehicle S-1") {
		t.Fatalf("register printed %q", out)
	}
	cred := decodeOne[haetae.VehicleCredential](t, admin.mustRun(ctx, "", "vehicle", "register", "--json", "--admin-token", cfg.AdminToken, "S-2"))
	if cred.ID != "S-2" || cred.Token == "" {
		t.Fatalf("register --json printed %+v", cred)
	}
	admin.wantFail(ctx, 1, "conflict", "vehicle", "register", "--admin-token", cfg.AdminToken, "S-1")
	admin.wantFail(ctx, 1, "forbidden", "vehicle", "register", "--admin-token", "not-the-admin-token", "S-3")

	alice.mustRun(ctx, testPassword+"\n", "register", "--password-stdin", "alice")
	alice.mustRun(ctx, testPassword+"\n", "login", "--password-stdin", "alice")
	ride := decodeOne[haetae.Rental](t, alice.mustRun(ctx, "", "ride", "start", "--json", "--client-id", "r1", "S-1"))
	if ride.Status != haetae.RentalActive || ride.Vehicle != "S-1" {
		t.Fatalf("ride start printed %+v", ride)
	}
	alice.wantFail(ctx, 1, "vehicle_in_use", "ride", "start", "S-1")

	// The vehicle unlocks and locks; both reports are delivered before the command ends.
	out := alice.mustRun(ctx, "unlock\nlock\npending\n", "vehicle", "simulate", "--vehicle", "S-1", "--token-file", s1Token)
	if !strings.Contains(out, "kept: unlocked") || !strings.Contains(out, "kept: locked") {
		t.Fatalf("simulate printed %q", out)
	}
	shown := decodeOne[haetae.Rental](t, alice.mustRun(ctx, "", "ride", "show", "--json", ride.ID))
	if shown.Status != haetae.RentalReturned || shown.EndedBy != haetae.EndedByVehicle || *shown.FareWon < 1000 {
		t.Fatalf("after the vehicle's lock the ride is %+v", shown)
	}
	if out := alice.mustRun(ctx, "", "ride", "return", ride.ID); !strings.Contains(out, "by the vehicle's lock") || !strings.Contains(out, " won") {
		t.Fatalf("return of an ended ride printed %q", out)
	}

	ride2 := decodeOne[haetae.Rental](t, alice.mustRun(ctx, "", "ride", "start", "--json", "S-2"))
	lockedAt := ride2.StartedAt.Format(time.RFC3339) // whole seconds: the starting second counts as inside the ride
	out = alice.mustRun(ctx, "", "ride", "return", "--locked-at", lockedAt, ride2.ID)
	if !strings.Contains(out, "at the lock time you gave") || !strings.Contains(out, "1,000 won") {
		t.Fatalf("return --locked-at printed %q", out)
	}
	alice.wantFail(ctx, 2, "--locked-at wants an RFC 3339 time", "ride", "return", "--locked-at", "10:07", ride2.ID)
	alice.wantFail(ctx, 1, "not_found", "ride", "show", "aaaaaaaaaaaaaaaa")
	if list := decodeLines[haetae.Rental](t, alice.mustRun(ctx, "", "ride", "show", "--json")); len(list) != 2 || list[0].ID != ride2.ID {
		t.Fatalf("ride show lists %+v", list)
	}

	// A scripted ride of S-2 (no rental now: the reports are kept all the same).
	out = alice.mustRun(ctx, "", "vehicle", "simulate", "--vehicle", "S-2", "--token", cred.Token, "--ride", "10ms")
	if !strings.Contains(out, "kept: unlocked") || !strings.Contains(out, "kept: locked") {
		t.Fatalf("simulate --ride printed %q", out)
	}
}
