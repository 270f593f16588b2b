package bench

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/jsstore"
	"github.com/haetae/haetae/node"
)

// cheapArgon makes password hashing fast; its cost is not what is measured here.
func cheapArgon(cfg *node.Config) {
	cfg.Store.Argon2 = jsstore.Argon2Params{Time: 1, Memory: 1024, Threads: 1}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rooms    int
		subs     int
		expected int // deliveries: every message once per subscription of its room
	}{
		{name: "one_subscriber_per_room", rooms: 2, subs: 2, expected: 300},
		{name: "subscriber_follows_several_rooms", rooms: 3, subs: 2, expected: 300},
		{name: "rooms_followed_twice", rooms: 2, subs: 4, expected: 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{
				Clients:     4,
				Messages:    300,
				Rooms:       tc.rooms,
				Subscribers: tc.subs,
				Duration:    time.Minute,
				Refs:        tc.name == "one_subscriber_per_room",
				RefDuration: 2 * time.Second,
				RefMessages: 300,
				TempDir:     t.TempDir(),
				Node:        cheapArgon,
			}
			res, err := Run(context.Background(), cfg, io.Discard)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			h := res.HTTP
			if p := res.Problems(); len(p) > 0 {
				t.Errorf("problems: %q", p)
			}
			if h.Sent != 300 || h.Acked != 300 || h.Errors != 0 {
				t.Errorf("sent %d, acked %d, errors %d (%s); want 300, 300, 0", h.Sent, h.Acked, h.Errors, h.FirstError)
			}
			if h.Expected != tc.expected || h.Deliveries != tc.expected || h.Missing != 0 || h.Duplicates != 0 || h.OutOfOrder != 0 {
				t.Errorf("deliveries %d of %d expected (want %d), missing %d, duplicates %d, out of order %d",
					h.Deliveries, h.Expected, tc.expected, h.Missing, h.Duplicates, h.OutOfOrder)
			}
			if len(h.SubscriberErrors) > 0 {
				t.Errorf("subscriber errors: %q", h.SubscriberErrors)
			}
			if !(h.AckedPerSec > 0 && h.SendP50Ms > 0 && h.SendP99Ms >= h.SendP50Ms && h.SendMaxMs >= h.SendP99Ms) {
				t.Errorf("send figures not sane: %+v", h)
			}
			if !(h.DeliveryP50Ms > 0 && h.DeliveryP99Ms >= h.DeliveryP50Ms && h.DeliveryMaxMs >= h.DeliveryP99Ms) {
				t.Errorf("delivery figures not sane: %+v", h)
			}
			if h.PeakRSSBytes <= 0 || !strings.Contains(h.RSSScope, "in-process node") {
				t.Errorf("peak RSS %d (%s): want the in-process node's", h.PeakRSSBytes, h.RSSScope)
			}
			if cfg.Refs {
				if len(res.Refs) != len(refs) {
					t.Fatalf("%d references, want %d", len(res.Refs), len(refs))
				}
				for _, r := range res.Refs {
					if r.Error != "" || r.Acked < 1 || r.Acked > 300 || r.PerSec <= 0 {
						t.Errorf("reference %s (%s): acked %d at %.0f/s, error %q", r.Name, r.Fsync, r.Acked, r.PerSec, r.Error)
					}
				}
				if res.Refs[3].Fsync != "lazy" {
					t.Errorf("last reference is fsync %s, want lazy", res.Refs[3].Fsync)
				}
			} else if len(res.Refs) != 0 {
				t.Errorf("%d references ran with Refs off", len(res.Refs))
			}
			var out strings.Builder
			if err := res.Print(&out); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"HTTP API send, 4 clients", "delivery latency", "peak RSS"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("printed result lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestRunStopsAtDuration checks that the duration caps sending: at 50 msgs/s for 300 ms far fewer than
// the 10,000 messages asked for are sent, and what was acknowledged is still delivered.
func TestRunStopsAtDuration(t *testing.T) {
	cfg := Config{Clients: 2, Messages: 10000, Rooms: 1, Subscribers: 1, Rate: 50, Duration: 300 * time.Millisecond, TempDir: t.TempDir(), Node: cheapArgon}
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	h := res.HTTP
	if h.Sent > 16 || h.Acked != h.Sent {
		t.Errorf("sent %d, acked %d: want at most 16 messages (50/s for 300 ms), all acknowledged", h.Sent, h.Acked)
	}
	if h.Deliveries != h.Acked || h.Missing != 0 {
		t.Errorf("delivered %d of %d acknowledged, %d missing", h.Deliveries, h.Acked, h.Missing)
	}
}

func TestPercentiles(t *testing.T) {
	ms := func(v ...int64) []int64 {
		for i := range v {
			v[i] *= int64(time.Millisecond)
		}
		return v
	}
	for _, tc := range []struct {
		name          string
		in            []int64
		p50, p99, max float64
	}{
		{name: "empty", in: nil},
		{name: "one", in: ms(7), p50: 7, p99: 7, max: 7},
		{name: "unsorted", in: ms(5, 1, 4, 2, 3), p50: 3, p99: 5, max: 5},
		{name: "hundred", in: ms(seq(100)...), p50: 50, p99: 99, max: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p50, p99, mx := percentiles(tc.in)
			if p50 != tc.p50 || p99 != tc.p99 || mx != tc.max {
				t.Errorf("percentiles = %v, %v, %v; want %v, %v, %v", p50, p99, mx, tc.p50, tc.p99, tc.max)
			}
		})
	}
}

func seq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i + 1)
	}
	return s
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 12345.6: "12,346", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkSendHTTP sends b.N messages through the HTTP API of an in-process node (fsync always) from
// many goroutines at once, so that group commit has company, and reports acknowledged messages/s.
func BenchmarkSendHTTP(b *testing.B) {
	cfg := node.DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cheapArgon(&cfg)
	n := node.New(cfg)
	ctx := context.Background()
	if err := n.Open(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close(context.Background()) })
	c, err := client.New([]string{n.URL()})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Register(ctx, "bencher", "bench-password"); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Login(ctx, "bencher", "bench-password"); err != nil {
		b.Fatal(err)
	}
	room, err := c.CreateRoom(ctx, "bench", []string{})
	if err != nil {
		b.Fatal(err)
	}
	text := filler(200)
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "b" + strconv.FormatInt(next.Add(1), 10)
			if _, _, err := c.Send(ctx, room.ID, id, text); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
