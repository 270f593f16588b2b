package statuspage_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

// chromium finds Debian's Chromium (scripts/test.sh installs it). Without it the screenshot test fails
// under CI (CI set) and is skipped elsewhere.
func chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("Chromium is missing; scripts/test.sh installs Debian's chromium package")
	}
	tb.Skip("Chromium is not installed (apt-get install chromium); skipping the browser test")
	return ""
}

// seed writes a history of past incidents straight into the replicated store, as nodes and people
// would have over the last three months.
func seed(tb testing.TB, store interface {
	Create(context.Context, *haetae.Incident) error
}, now time.Time) {
	tb.Helper()
	day := func(d int, h int) time.Time {
		return now.AddDate(0, 0, -d).Truncate(24 * time.Hour).Add(time.Duration(h) * time.Hour)
	}
	ptr := func(t time.Time) *time.Time { return &t }
	list := []*haetae.Incident{
		{ID: "20260921-pangyo", Title: "Messages not delivered in all data centers", Impact: "critical", Status: "resolved",
			Components: []string{"messaging", "live"}, DCs: []string{"dc2"}, Cause: "A power failure in dc2 during a maintenance window took the data center down while dc3's replicas were being rebuilt, leaving one replica of two message streams.",
			StartedAt: day(69, 3), ResolvedAt: ptr(day(69, 6)),
			Updates: []haetae.Update{
				{At: day(69, 3), Status: "investigating", Text: "Sending fails for some rooms.", Components: []string{"messaging", "live"}, By: "admin"},
				{At: day(69, 4), Status: "identified", Text: "Two message streams lost their majority.", By: "admin"},
				{At: day(69, 6), Status: "resolved", Text: "dc3's replicas caught up; every stream has three replicas again.", By: "admin"},
			},
			Postmortem: "Replica rebuilds and maintenance in another data center must never overlap; the drill now checks it."},
		{ID: "dc_unreachable-dc3-1", Title: "Data center dc3 unreachable", Impact: "minor", Status: "resolved", Auto: true, Fault: "dc_unreachable:dc3",
			Components: []string{"accounts", "messaging", "live"}, DCs: []string{"dc3"},
			Cause:     "Data center dc1 (node dc1) has not heard from data center dc3 (node dc3) since 02:14:09Z and has no NATS route to it.",
			StartedAt: day(23, 2), ResolvedAt: ptr(day(23, 2).Add(38 * time.Minute)),
			Updates: []haetae.Update{
				{At: day(23, 2), Status: "investigating", Text: "Detected by dc1 (node dc1).", Components: []string{"accounts", "messaging", "live"}, By: "dc1"},
				{At: day(23, 2).Add(38 * time.Minute), Status: "resolved", Text: "Resolved: dc2 (node dc2) no longer sees the fault, and no other node reports it.", By: "dc2"},
			}},
		{ID: "20261117-logins", Title: "Slow logins", Impact: "major", Status: "resolved",
			Components: []string{"accounts"}, Cause: "A session bucket compaction starved the disk.",
			StartedAt: day(12, 9), ResolvedAt: ptr(day(12, 10)),
			Updates: []haetae.Update{
				{At: day(12, 9), Status: "investigating", Text: "Logins take seconds.", Components: []string{"accounts"}, By: "admin"},
				{At: day(12, 10), Status: "resolved", Text: "Compaction finished.", By: "admin"},
			}},
	}
	for _, inc := range list {
		if err := store.Create(context.Background(), inc); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestScreenshot loads /status of a node of a real cluster that has just lost a data center in
// headless Chromium: the page renders with its stylesheet, in two requests, with no script. With
// HAETAE_SCREENSHOT=path it keeps the picture there (docs/status-page.png is made so).
func TestScreenshot(t *testing.T) {
	browser := chromium(t)
	cfgs := testnode.ClusterConfigs(t, 3)
	for i := range cfgs {
		cfgs[i].StatusGrace = time.Second // the detectors judge a silence a second after start
	}
	c := testnode.StartCluster(t, cfgs)
	seed(t, c.Nodes[0].Store.Incidents, time.Now().UTC())
	url := c.Nodes[0].URL() + "/status"
	c.Stop(2)
	testnode.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		// The seeded history names dc3 too: wait for the live state, an open incident and dc3 lost.
		var st haetae.Status
		testnode.Do(t, "GET", c.Nodes[0].URL()+"/v1/status", "", nil).JSON(t, &st)
		if st.Overall == haetae.StateOperational || len(st.OpenIncidents) == 0 {
			return fmt.Errorf("the node does not see dc3 lost yet: overall %s, %d open incidents", st.Overall, len(st.OpenIncidents))
		}
		r := testnode.Do(t, "GET", url, "", nil)
		if !strings.Contains(string(r.Body), "Data center dc3 unreachable") || !strings.Contains(string(r.Body), "Slow logins") {
			return fmt.Errorf("the page does not show the lost DC and the seeded history yet")
		}
		return nil
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1000, 900), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()
	var mu sync.Mutex
	var requests []string
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible("section.banner")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	banner, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("section.banner")).backgroundColor`))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	mu.Lock()
	got := append([]string(nil), requests...)
	mu.Unlock()
	var own []string
	for _, u := range got {
		if strings.HasPrefix(u, "http") {
			own = append(own, u)
		}
	}
	if len(own) != 2 || !strings.HasSuffix(own[0], "/status") || !strings.HasSuffix(own[1], "/status.css") {
		t.Fatalf("the page took these requests, want /status and /status.css only: %v", got)
	}
	if banner != "rgb(224, 161, 0)" || scripts != 0 {
		t.Fatalf("banner colour %q (the stylesheet applied?), %d scripts", banner, scripts)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 900 || b.Dy() < 900 {
		t.Fatalf("screenshot of %v", b)
	}
	out := os.Getenv("HAETAE_SCREENSHOT")
	if out == "" {
		out = t.TempDir() + "/status-page.png"
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %s: %s (%d bytes, %v)", url, out, len(shot), img.Bounds().Size())
}
