package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunLoad runs a small surge scenario end to end, limiter on and off, and checks that the report
// holds every phase and class, that acknowledged sends are all in history, and that the HTML has its
// charts.
func TestRunLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep := &LoadReport{Command: "test", When: time.Now(), CPUs: NumCPU()}
	for _, off := range []bool{false, true} {
		cfg := LoadConfig{Users: 4, Factor: 3, Rate: 5, RoomSize: 2, Baseline: time.Second, Surge: 2 * time.Second,
			Recovery: time.Second, OpTimeout: 5 * time.Second, NoLimiter: off, TempDir: t.TempDir()}
		res, err := RunLoad(ctx, cfg, nil)
		if err != nil {
			t.Fatalf("limiter off=%v: %v", off, err)
		}
		if len(res.Phases) != 9 {
			t.Fatalf("%d phase rows, want 3 phases × 3 classes", len(res.Phases))
		}
		if res.Acked == 0 || res.Lost != 0 {
			t.Fatalf("acked %d, lost %d", res.Acked, res.Lost)
		}
		if len(res.Timeline) < 3 || res.PeakRSSBytes == 0 {
			t.Fatalf("timeline of %d samples, peak RSS %d: the server's /metrics were not read", len(res.Timeline), res.PeakRSSBytes)
		}
		if res.Limiter == off {
			t.Fatalf("Limiter = %v with NoLimiter %v", res.Limiter, off)
		}
		rep.Runs = append(rep.Runs, res)
	}
	if p := rep.Problems(); len(p) > 0 {
		t.Fatalf("problems: %v", p)
	}
	var text, page bytes.Buffer
	if err := rep.Print(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"limiter on", "limiter off", "surge", "critical", "acknowledged sends"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if n := strings.Count(page.String(), "<svg"); n != 14 {
		t.Errorf("HTML report has %d charts, want 7 per run", n)
	}
}
