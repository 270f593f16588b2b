package httpapi_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/mmcdole/gofeed"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestIncidentsAPI: reads need no token; writes need the admin token; stages move forward; the Atom
// feed is valid Atom for a real feed parser; /metrics parses and counts the open incidents.
func TestIncidentsAPI(t *testing.T) {
	cfg := testnode.Config(t)
	cfg.AdminToken = "admin-token-for-tests-0123456789"
	n := testnode.MustStart(t, cfg)
	base := n.URL()
	admin := cfg.AdminToken
	user := testnode.MustUser(t, base, "alice")

	body := map[string]any{"title": "Messages & receipts <slow>", "impact": "major", "components": []string{"messaging", "live"}, "cause": "a slow disk in dc2", "text": "Looking into it."}
	if r := testnode.DoJSON(t, "POST", base+"/v1/incidents", "", body); r.Status != 401 {
		t.Fatalf("create without a token: %d %s", r.Status, r.Body)
	}
	if r := testnode.DoJSON(t, "POST", base+"/v1/incidents", user, body); r.Status != 403 || r.ErrorCode() != "forbidden" {
		t.Fatalf("create with a user's token: %d %s", r.Status, r.Body)
	}
	if r := testnode.DoJSON(t, "POST", base+"/v1/incidents", admin, map[string]any{"title": "x", "impact": "huge", "components": []string{"live"}}); r.Status != 400 {
		t.Fatalf("create with a bad impact: %d %s", r.Status, r.Body)
	}
	if r := testnode.DoJSON(t, "POST", base+"/v1/incidents", admin, map[string]any{"title": "x", "impact": "minor", "components": []string{"live"}, "color": "red"}); r.ErrorCode() != "unknown_field" {
		t.Fatalf("create with an unknown field: %d %s", r.Status, r.Body)
	}
	r := testnode.DoJSON(t, "POST", base+"/v1/incidents", admin, body)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var inc haetae.Incident
	r.JSON(t, &inc)
	if inc.Status != "investigating" || inc.Auto || len(inc.Updates) != 1 {
		t.Fatalf("created: %+v", inc)
	}
	up := func(status, text string) *testnode.Response {
		return testnode.DoJSON(t, "POST", base+"/v1/incidents/"+inc.ID+"/updates", admin, map[string]any{"status": status, "text": text})
	}
	if r := up("identified", "The disk is being replaced."); r.Status != 201 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if r := up("investigating", "back?"); r.Status != 409 || r.ErrorCode() != "conflict" {
		t.Fatalf("moving back: %d %s", r.Status, r.Body)
	}
	if r := testnode.Do(t, "GET", base+"/v1/incidents/nope", "", nil); r.Status != 404 {
		t.Fatalf("unknown incident: %d %s", r.Status, r.Body)
	}
	if r := testnode.Do(t, "GET", base+"/v1/incidents?limit=0", "", nil); r.Status != 400 {
		t.Fatalf("limit 0: %d %s", r.Status, r.Body)
	}

	var st haetae.Status
	testnode.Do(t, "GET", base+"/v1/status", "", nil).JSON(t, &st)
	if st.Overall != "degraded" || len(st.OpenIncidents) != 1 || !st.Quorum {
		t.Fatalf("status: %+v", st)
	}
	var one haetae.Incident
	testnode.Do(t, "GET", base+"/v1/incidents/"+inc.ID, "", nil).JSON(t, &one)
	if len(one.Affected) != 2 || one.Affected[0].Component != "messaging" {
		t.Fatalf("affected: %+v", one.Affected)
	}

	t.Run("Atom", func(t *testing.T) {
		r := testnode.Do(t, "GET", base+"/v1/incidents.atom", "", nil)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/atom+xml") {
			t.Fatalf("feed: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		feed, err := gofeed.NewParser().Parse(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatalf("the feed does not parse: %v\n%s", err, r.Body)
		}
		if feed.FeedType != "atom" || feed.FeedVersion != "1.0" || len(feed.Items) != 1 {
			t.Fatalf("feed %s %s with %d items", feed.FeedType, feed.FeedVersion, len(feed.Items))
		}
		it := feed.Items[0]
		if it.GUID != "tag:haetae,2026:incident:"+inc.ID || !strings.Contains(it.Title, "Messages & receipts <slow>") ||
			!strings.Contains(it.Content, "The disk is being replaced.") || it.UpdatedParsed == nil || it.PublishedParsed == nil {
			t.Fatalf("item: %+v", it)
		}
		if feed.UpdatedParsed == nil || feed.UpdatedParsed.Before(inc.StartedAt.Truncate(time.Second)) {
			t.Fatalf("feed updated %v", feed.UpdatedParsed)
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		r := testnode.Do(t, "GET", base+"/metrics", "", nil)
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		open := map[string]float64{}
		for _, m := range fams["haetae_incidents_open"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "impact" {
					open[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
		if open["major"] != 1 || open["minor"] != 0 || len(open) != 3 {
			t.Fatalf("haetae_incidents_open: %v", open)
		}
		for _, name := range []string{"haetae_incidents_local", "haetae_incident_history_age_seconds", "haetae_webhook_deliveries_total"} {
			if fams[name] == nil {
				t.Errorf("no %s", name)
			}
		}
	})

	t.Run("Page", func(t *testing.T) {
		r := testnode.Do(t, "GET", base+"/status", "", nil)
		page := string(r.Body)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("page: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		for _, want := range []string{"Degraded service", "Messages &amp; receipts &lt;slow&gt;", "The disk is being replaced.", `href="/status.css"`, "uptime"} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		if strings.Contains(strings.ToLower(page), "<script") {
			t.Error("the page has a script")
		}
		if css := testnode.Do(t, "GET", base+"/status.css", "", nil); css.Status != 200 || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
			t.Fatalf("stylesheet: %d", css.Status)
		}
	})

	if r := up("resolved", "Replaced; all well."); r.Status != 201 {
		t.Fatalf("resolve: %d %s", r.Status, r.Body)
	}
	if r := testnode.DoJSON(t, "POST", base+"/v1/incidents/"+inc.ID+"/updates", admin, map[string]any{"status": "resolved", "postmortem": "The disk's firmware had a bug."}); r.Status != 201 {
		t.Fatalf("postmortem: %d %s", r.Status, r.Body)
	}
	testnode.Do(t, "GET", base+"/v1/status", "", nil).JSON(t, &st)
	if st.Overall != "operational" || len(st.OpenIncidents) != 0 {
		t.Fatalf("status after the resolution: %+v", st)
	}
	var list struct{ Incidents []haetae.Incident }
	testnode.Do(t, "GET", base+"/v1/incidents?limit=5", "", nil).JSON(t, &list)
	if len(list.Incidents) != 1 || list.Incidents[0].Postmortem == "" || list.Incidents[0].ResolvedAt == nil {
		t.Fatalf("history: %+v", list)
	}
}
