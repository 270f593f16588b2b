package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

// TestRentalsOverHTTP drives the rental routes through a real node: a vehicle is registered, reports
// its unlock (a repeat is 200), a ride starts (a repeat is 200), the vehicle reports its lock late,
// and the ride's fare is for the riding time.
func TestRentalsOverHTTP(t *testing.T) {
	clock := testnode.NewClock(time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC))
	cfg := testnode.Config(t)
	cfg.AdminToken = testAdminToken
	cfg.Store.Now = clock.Now
	base := testnode.MustStart(t, cfg).URL()
	alice := testnode.MustUser(t, base, "alice")

	r := testnode.DoJSON(t, "POST", base+"/v1/vehicles", testAdminToken, map[string]string{"id": "S-1"})
	if r.Status != 201 {
		t.Fatalf("register vehicle: %d %s", r.Status, r.Body)
	}
	var cred haetae.VehicleCredential
	r.JSON(t, &cred)
	event := func(clientID, typ string, at time.Time) *testnode.Response {
		return testnode.DoJSON(t, "POST", base+"/v1/vehicles/S-1/events", cred.Token, map[string]string{"client_id": clientID, "type": typ, "at": at.Format(time.RFC3339)})
	}
	start := clock.Now()
	if r := event("u1", "unlocked", start); r.Status != 201 {
		t.Fatalf("unlock: %d %s", r.Status, r.Body)
	}
	if r := event("u1", "unlocked", start); r.Status != 200 {
		t.Fatalf("repeated unlock: %d %s", r.Status, r.Body)
	}
	r = testnode.DoJSON(t, "POST", base+"/v1/rentals", alice, map[string]string{"client_id": "ride-1", "vehicle": "S-1"})
	if r.Status != 201 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	var rental haetae.Rental
	r.JSON(t, &rental)
	if r := testnode.DoJSON(t, "POST", base+"/v1/rentals", alice, map[string]string{"client_id": "ride-1", "vehicle": "S-1"}); r.Status != 200 {
		t.Fatalf("repeated start: %d %s", r.Status, r.Body)
	}
	clock.Advance(25 * time.Minute)
	// Locked at 10 minutes; the report reaches the platform 15 minutes later.
	if r := event("l1", "locked", start.Add(10*time.Minute)); r.Status != 201 {
		t.Fatalf("lock: %d %s", r.Status, r.Body)
	}
	r = testnode.Do(t, "GET", base+"/v1/rentals/"+rental.ID, alice, nil)
	var got haetae.Rental
	r.JSON(t, &got)
	if got.Status != haetae.RentalReturned || got.FareWon == nil || *got.FareWon != 1000+10*150 || *got.BilledSeconds != 600 || *got.ExcludedSeconds != 0 {
		t.Fatalf("rental after the late lock: %d %s", r.Status, r.Body)
	}
	r = testnode.DoJSON(t, "POST", base+"/v1/rentals/"+rental.ID+"/return", alice, map[string]string{"client_id": "ret-1"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"fare_won":2500`) {
		t.Fatalf("return of an ended ride: %d %s", r.Status, r.Body)
	}
	r = testnode.Do(t, "GET", base+"/v1/rentals", alice, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), rental.ID) {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
}

// TestRentalBadInputChangesNothing: forged and foreign tokens, unknown vehicles, duplicates that
// disagree, other riders' rentals and malformed bodies all get the contract's 4xx, and afterwards the
// rental and the vehicle's record are as they were.
func TestRentalBadInputChangesNothing(t *testing.T) {
	cfg := testnode.Config(t)
	cfg.AdminToken = testAdminToken
	base := testnode.MustStart(t, cfg).URL()
	alice := testnode.MustUser(t, base, "alice")
	bob := testnode.MustUser(t, base, "bob")
	var s1, s2 haetae.VehicleCredential
	testnode.DoJSON(t, "POST", base+"/v1/vehicles", testAdminToken, map[string]string{"id": "s1"}).JSON(t, &s1)
	testnode.DoJSON(t, "POST", base+"/v1/vehicles", testAdminToken, map[string]string{"id": "s2"}).JSON(t, &s2)
	now := time.Now().UTC().Format(time.RFC3339)
	if r := testnode.Do(t, "POST", base+"/v1/vehicles/s1/events", s1.Token, []byte(`{"client_id":"u1","type":"unlocked","at":"`+now+`"}`)); r.Status != 201 {
		t.Fatalf("unlock: %d %s", r.Status, r.Body)
	}
	r := testnode.Do(t, "POST", base+"/v1/rentals", alice, []byte(`{"client_id":"ride-1","vehicle":"s1"}`))
	if r.Status != 201 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	var rental haetae.Rental
	r.JSON(t, &rental)
	before := testnode.Do(t, "GET", base+"/v1/rentals/"+rental.ID, alice, nil).Body

	events := base + "/v1/vehicles/s1/events"
	ret := base + "/v1/rentals/" + rental.ID + "/return"
	lockBody := `{"client_id":"l1","type":"locked","at":"` + now + `"}`
	cases := []struct {
		name, method, url, token, body string
		status                         int
		code                           string
	}{
		{"vehicle_no_admin_token", "POST", base + "/v1/vehicles", "", `{"id":"s3"}`, 401, haetae.EUnauthorized},
		{"vehicle_user_token", "POST", base + "/v1/vehicles", alice, `{"id":"s3"}`, 403, haetae.EForbidden},
		{"vehicle_id_missing", "POST", base + "/v1/vehicles", testAdminToken, `{}`, 400, haetae.EInvalid},
		{"vehicle_id_bad", "POST", base + "/v1/vehicles", testAdminToken, `{"id":"s.3"}`, 400, haetae.EInvalid},
		{"vehicle_unknown_field", "POST", base + "/v1/vehicles", testAdminToken, `{"id":"s3","token":"x"}`, 400, haetae.EUnknownField},
		{"vehicle_registered", "POST", base + "/v1/vehicles", testAdminToken, `{"id":"s1"}`, 409, haetae.EConflict},
		{"event_no_token", "POST", events, "", lockBody, 401, haetae.EUnauthorized},
		{"event_forged_token", "POST", events, "forged-vehicle-token", lockBody, 401, haetae.EUnauthorized},
		{"event_other_vehicles_token", "POST", events, s2.Token, lockBody, 401, haetae.EUnauthorized},
		{"event_users_token", "POST", events, alice, lockBody, 401, haetae.EUnauthorized},
		{"event_admin_token", "POST", events, testAdminToken, lockBody, 401, haetae.EUnauthorized},
		{"event_unknown_vehicle", "POST", base + "/v1/vehicles/s9/events", s1.Token, lockBody, 404, haetae.EVehicleNotFound},
		{"event_malformed_vehicle", "POST", base + "/v1/vehicles/s%2E1/events", s1.Token, lockBody, 404, haetae.EVehicleNotFound},
		{"event_duplicate_disagrees", "POST", events, s1.Token, `{"client_id":"u1","type":"locked","at":"` + now + `"}`, 409, haetae.EIdempotencyConflict},
		{"event_bad_type", "POST", events, s1.Token, `{"client_id":"l1","type":"parked","at":"` + now + `"}`, 400, haetae.EInvalid},
		{"event_no_type", "POST", events, s1.Token, `{"client_id":"l1","at":"` + now + `"}`, 400, haetae.EInvalid},
		{"event_no_at", "POST", events, s1.Token, `{"client_id":"l1","type":"locked"}`, 400, haetae.EInvalid},
		{"event_at_not_a_time", "POST", events, s1.Token, `{"client_id":"l1","type":"locked","at":"yesterday"}`, 400, haetae.EInvalid},
		{"event_at_without_offset", "POST", events, s1.Token, `{"client_id":"l1","type":"locked","at":"2026-03-02T10:07:00"}`, 400, haetae.EInvalid},
		{"event_at_unset_clock", "POST", events, s1.Token, `{"client_id":"l1","type":"locked","at":"1970-01-01T00:00:00Z"}`, 400, haetae.EInvalid},
		{"event_at_wrong_type", "POST", events, s1.Token, `{"client_id":"l1","type":"locked","at":1700000000}`, 400, haetae.EInvalidJSON},
		{"event_no_client_id", "POST", events, s1.Token, `{"type":"locked","at":"` + now + `"}`, 400, haetae.EInvalid},
		{"event_bad_client_id", "POST", events, s1.Token, `{"client_id":"l 1","type":"locked","at":"` + now + `"}`, 400, haetae.EInvalidClientID},
		{"event_unknown_field", "POST", events, s1.Token, `{"client_id":"l1","type":"locked","at":"` + now + `","rental":"x"}`, 400, haetae.EUnknownField},
		{"rental_no_token", "POST", base + "/v1/rentals", "", `{"client_id":"r2","vehicle":"s2"}`, 401, haetae.EUnauthorized},
		{"rental_vehicle_token", "POST", base + "/v1/rentals", s2.Token, `{"client_id":"r2","vehicle":"s2"}`, 401, haetae.EUnauthorized},
		{"rental_no_vehicle", "POST", base + "/v1/rentals", bob, `{"client_id":"r2"}`, 400, haetae.EInvalid},
		{"rental_unknown_vehicle", "POST", base + "/v1/rentals", bob, `{"client_id":"r2","vehicle":"s9"}`, 404, haetae.EVehicleNotFound},
		{"rental_vehicle_in_use", "POST", base + "/v1/rentals", bob, `{"client_id":"r2","vehicle":"s1"}`, 409, haetae.EVehicleInUse},
		{"rental_client_id_reused", "POST", base + "/v1/rentals", alice, `{"client_id":"ride-1","vehicle":"s2"}`, 409, haetae.EIdempotencyConflict},
		{"rental_bad_client_id", "POST", base + "/v1/rentals", bob, `{"client_id":"r/2","vehicle":"s2"}`, 400, haetae.EInvalidClientID},
		{"rental_of_another_rider", "GET", base + "/v1/rentals/" + rental.ID, bob, ``, 404, haetae.ENotFound},
		{"rental_malformed_id", "GET", base + "/v1/rentals/NOT-AN-ID", alice, ``, 404, haetae.ENotFound},
		{"rentals_zero_limit", "GET", base + "/v1/rentals?limit=0", alice, ``, 400, haetae.EInvalid},
		{"return_of_another_rider", "POST", ret, bob, `{"client_id":"b1"}`, 404, haetae.ENotFound},
		{"return_no_client_id", "POST", ret, alice, `{}`, 400, haetae.EInvalid},
		{"return_locked_at_not_a_time", "POST", ret, alice, `{"client_id":"a1","locked_at":"10:07"}`, 400, haetae.EInvalid},
		{"return_locked_at_before_start", "POST", ret, alice, `{"client_id":"a1","locked_at":"2020-01-01T00:00:00Z"}`, 400, haetae.EInvalid},
		{"return_locked_at_in_future", "POST", ret, alice, `{"client_id":"a1","locked_at":"2999-01-01T00:00:00Z"}`, 400, haetae.EInvalid},
		{"return_unknown_field", "POST", ret, alice, `{"client_id":"a1","fare_won":0}`, 400, haetae.EUnknownField},
		{"return_wrong_method", "GET", ret, alice, ``, 405, haetae.EMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" || tc.method == "POST" {
				body = []byte(tc.body)
			}
			r := testnode.Do(t, tc.method, tc.url, tc.token, body)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
			}
		})
	}
	if after := testnode.Do(t, "GET", base+"/v1/rentals/"+rental.ID, alice, nil).Body; string(after) != string(before) {
		t.Fatalf("the rental changed:\nbefore %s\n after %s", before, after)
	}
	if r := testnode.Do(t, "GET", base+"/v1/rentals", bob, nil); r.Status != 200 || string(r.Body) != "{\"rentals\":[]}\n" {
		t.Fatalf("bob has rentals after refused requests: %d %s", r.Status, r.Body)
	}
	// The refused reports were not kept: l1 is still free, and a lock under it ends the ride.
	lockBody = `{"client_id":"l1","type":"locked","at":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}`
	if r := testnode.Do(t, "POST", events, s1.Token, []byte(lockBody)); r.Status != 201 {
		t.Fatalf("a valid lock after the refused ones: %d %s", r.Status, r.Body)
	}
	if r := testnode.Do(t, "GET", base+"/v1/rentals/"+rental.ID, alice, nil); !strings.Contains(string(r.Body), `"status":"returned"`) {
		t.Fatalf("the lock did not end the ride: %s", r.Body)
	}
}
