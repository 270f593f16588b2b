package haetae_test

import (
	"testing"
	"time"

	"github.com/haetae/haetae"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func resolvedAt(d time.Duration) *time.Time { t := at(d); return &t }

func TestAffectedDurations(t *testing.T) {
	cases := []struct {
		name string
		inc  haetae.Incident
		now  time.Time
		want map[string]int64 // component → seconds
	}{
		{"resolved", haetae.Incident{StartedAt: at(0), ResolvedAt: resolvedAt(90 * time.Minute), Status: "resolved",
			Components: []string{"messaging", "live"}}, at(5 * time.Hour), map[string]int64{"messaging": 5400, "live": 5400}},
		{"open_counts_to_now", haetae.Incident{StartedAt: at(0), Status: "investigating",
			Components: []string{"messaging"}}, at(time.Hour), map[string]int64{"messaging": 3600}},
		{"component_added_later", haetae.Incident{StartedAt: at(0), ResolvedAt: resolvedAt(3 * time.Hour), Status: "resolved",
			Components: []string{"messaging", "live"},
			Updates: []haetae.Update{
				{At: at(0), Status: "investigating", Components: []string{"messaging"}},
				{At: at(time.Hour), Status: "identified", Components: []string{"messaging", "live"}},
			}}, at(5 * time.Hour), map[string]int64{"messaging": 3 * 3600, "live": 2 * 3600}},
		{"component_removed_then_back", haetae.Incident{StartedAt: at(0), ResolvedAt: resolvedAt(4 * time.Hour), Status: "resolved",
			Components: []string{"live"},
			Updates: []haetae.Update{
				{At: at(0), Status: "investigating", Components: []string{"live"}},
				{At: at(time.Hour), Status: "identified", Components: []string{"messaging"}},
				{At: at(3 * time.Hour), Status: "monitoring", Components: []string{"live"}},
			}}, at(5 * time.Hour), map[string]int64{"live": 2 * 3600, "messaging": 2 * 3600}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]int64{}
			for _, a := range haetae.AffectedDurations(&tc.inc, tc.now) {
				got[a.Component] = a.Seconds
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for c, s := range tc.want {
				if got[c] != s {
					t.Fatalf("%s: %d s, want %d s (all: %v)", c, got[c], s, got)
				}
			}
		})
	}
}

func TestUptimeDays(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return time.Date(2026, 11, 29-d, 0, 0, 0, 0, time.UTC) }
	major := &haetae.Incident{ID: "a", Impact: "major", Status: "resolved", Components: []string{"messaging"},
		StartedAt: day(2).Add(23 * time.Hour), ResolvedAt: ptr(day(1).Add(time.Hour))} // 2 h over midnight
	minor := &haetae.Incident{ID: "b", Impact: "minor", Status: "resolved", Components: []string{"messaging", "live"},
		StartedAt: day(5).Add(time.Hour), ResolvedAt: ptr(day(5).Add(3 * time.Hour))}
	old := &haetae.Incident{ID: "c", Impact: "critical", Status: "resolved", Components: []string{"messaging"},
		StartedAt: day(200), ResolvedAt: ptr(day(199))}
	hist := []*haetae.Incident{major, minor, old}

	u := haetae.UptimeDays("messaging", hist, 90, now)
	if len(u.Days) != 90 || u.Days[89].Date != "2026-11-29" || u.Days[0].Date != "2026-09-01" {
		t.Fatalf("days: %d, first %s, last %s", len(u.Days), u.Days[0].Date, u.Days[len(u.Days)-1].Date)
	}
	if d := u.Days[87]; d.State != "major_outage" || d.Down != time.Hour || len(d.Incidents) != 1 {
		t.Fatalf("the day before yesterday: %+v", d)
	}
	if d := u.Days[88]; d.State != "major_outage" || d.Down != time.Hour {
		t.Fatalf("yesterday: %+v", d)
	}
	if d := u.Days[84]; d.State != "degraded" || d.Degraded != 2*time.Hour || d.Down != 0 {
		t.Fatalf("five days ago: %+v", d)
	}
	span := 89*24*time.Hour + 12*time.Hour
	want := 100 * (1 - float64(2*time.Hour)/float64(span))
	if diff := u.Percent - want; diff > 1e-9 || diff < -1e-9 {
		t.Fatalf("uptime %.6f%%, want %.6f%%", u.Percent, want)
	}
	if l := haetae.UptimeDays("live", hist, 90, now); l.Percent != 100 || l.Days[84].State != "degraded" {
		t.Fatalf("live: %.4f%%, day 84 %+v", l.Percent, l.Days[84])
	}
	if a := haetae.UptimeDays("accounts", hist, 90, now); a.Percent != 100 {
		t.Fatalf("accounts: %.4f%%", a.Percent)
	}
}

func ptr(t time.Time) *time.Time { return &t }

func TestOverall(t *testing.T) {
	open := func(impact string, comps ...string) *haetae.Incident {
		return &haetae.Incident{Impact: impact, Status: "investigating", Components: comps}
	}
	comps := []string{"accounts", "messaging", "live"}
	up := []haetae.DCState{{Name: "dc1", State: "operational"}, {Name: "dc2", State: "operational"}}
	cases := []struct {
		name      string
		incidents []*haetae.Incident
		dcs       []haetae.DCState
		want      string
	}{
		{"all_well", nil, up, "operational"},
		{"resolved_does_not_count", []*haetae.Incident{{Impact: "critical", Status: "resolved", Components: comps}}, up, "operational"},
		{"minor_degrades", []*haetae.Incident{open("minor", "live")}, up, "degraded"},
		{"critical_is_outage", []*haetae.Incident{open("minor", "live"), open("critical", "messaging")}, up, "major_outage"},
		{"dc_lost_degrades", nil, []haetae.DCState{{Name: "dc1", State: "operational"}, {Name: "dc2", State: "unreachable"}}, "degraded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := haetae.Overall(haetae.ComponentStates(comps, tc.incidents), tc.dcs); got != tc.want {
				t.Fatalf("overall %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCompensate(t *testing.T) {
	p := haetae.CompensationPolicy{After: 2 * time.Hour, Multiple: 3, MonthlyFeeWon: 7200, MinImpact: "major"}
	inc := func(impact string, d time.Duration) *haetae.Incident {
		return &haetae.Incident{Impact: impact, Status: "resolved", Components: []string{"messaging"}, StartedAt: at(0), ResolvedAt: resolvedAt(d)}
	}
	cases := []struct {
		name   string
		inc    *haetae.Incident
		owed   bool
		credit time.Duration
		won    int64
	}{
		{"under_threshold", inc("major", 2*time.Hour), false, 0, 0},
		{"over_threshold", inc("major", 3*time.Hour), true, 9 * time.Hour, 90}, // 7,200 won/720 h × 3 h × 3
		{"minor_owes_nothing", inc("minor", 10*time.Hour), false, 0, 0},
		{"critical", inc("critical", 150*time.Minute), true, 450 * time.Minute, 75},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := haetae.Compensate(p, tc.inc, at(24*time.Hour))
			if len(got) != 1 {
				t.Fatalf("%d components", len(got))
			}
			c := got[0]
			if c.Owed != tc.owed || c.Credit != tc.credit || c.Won != tc.won {
				t.Fatalf("got %+v, want owed %v credit %s won %d", c, tc.owed, tc.credit, tc.won)
			}
		})
	}
	if err := (haetae.CompensationPolicy{Multiple: -1, MinImpact: "major"}).Validate(); err == nil {
		t.Fatal("a negative multiple is accepted")
	}
}

func TestValidIncidentInput(t *testing.T) {
	comps := haetae.DefaultComponents
	open := &haetae.Incident{Status: "identified"}
	resolved := &haetae.Incident{Status: "resolved"}
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"new_ok", haetae.ValidNewIncident(haetae.NewIncident{Title: "Slow sends", Impact: "minor", Components: []string{"messaging"}}, comps), ""},
		{"new_no_title", haetae.ValidNewIncident(haetae.NewIncident{Impact: "minor", Components: []string{"messaging"}}, comps), haetae.EInvalid},
		{"new_bad_impact", haetae.ValidNewIncident(haetae.NewIncident{Title: "x", Impact: "huge", Components: []string{"messaging"}}, comps), haetae.EInvalid},
		{"new_unknown_component", haetae.ValidNewIncident(haetae.NewIncident{Title: "x", Impact: "minor", Components: []string{"fax"}}, comps), haetae.EInvalid},
		{"new_resolved", haetae.ValidNewIncident(haetae.NewIncident{Title: "x", Impact: "minor", Status: "resolved", Components: []string{"live"}}, comps), haetae.EInvalid},
		{"update_ok", haetae.ValidNewUpdate(open, haetae.NewUpdate{Status: "monitoring", Text: "fixed, watching"}, comps), ""},
		{"update_back", haetae.ValidNewUpdate(open, haetae.NewUpdate{Status: "investigating", Text: "hm"}, comps), haetae.EConflict},
		{"update_no_text", haetae.ValidNewUpdate(open, haetae.NewUpdate{Status: "monitoring"}, comps), haetae.EInvalid},
		{"update_resolved_text", haetae.ValidNewUpdate(resolved, haetae.NewUpdate{Status: "resolved", Text: "again"}, comps), haetae.EConflict},
		{"postmortem_ok", haetae.ValidNewUpdate(resolved, haetae.NewUpdate{Status: "resolved", Postmortem: "A disk filled up."}, comps), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := haetae.ErrorCode(tc.err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, tc.err, tc.code)
			}
		})
	}
}
