package status_test

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/node"
	"github.com/haetae/haetae/status"
)

func streamHealth(n *node.Node) func() []status.StreamHealth {
	return func() []status.StreamHealth {
		var out []status.StreamHealth
		for _, r := range n.NATS.Streams() {
			out = append(out, status.StreamHealth{Name: r.Name, Leader: r.Leader, Led: r.Led, Replicas: r.Replicas, Behind: r.Behind})
		}
		return out
	}
}

func keys(fs []haetae.Fault) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Key)
	}
	return out
}

// TestDCAndStreamWatch runs the detectors on the real inputs of node 1 of an in-process cluster: its
// directory, its NATS routes and its JetStream replicas. Stopping node 3 makes dc3 unreachable, from
// dc1's view, since about when it stopped; the streams dc1 leads miss their dc3 replica, which the DC
// incident accounts for; restarting it clears both.
func TestDCAndStreamWatch(t *testing.T) {
	c := testnode.MustCluster(t, 3)
	n1 := c.Nodes[0]
	dcw := &status.DCWatch{Node: n1.NATS.Name(), DC: "dc1", Endpoints: n1.API.Endpoints, Routes: n1.NATS.Peers, Servers: n1.NATS.ServerNames,
		Quorum: n1.NATS.Quorum, Components: haetae.DefaultComponents, Start: time.Now(), After: status.DefaultUnreachableAfter}
	sw := &status.StreamWatch{Node: "dc1", DC: "dc1", Health: streamHealth(n1)}
	excused := &status.StreamWatch{Node: "dc1", DC: "dc1", Health: streamHealth(n1), Excused: dcw.Unreachable}
	testnode.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		if f := dcw.Check(time.Now()); len(f) != 0 {
			return fmt.Errorf("faults with every node up: %v", keys(f))
		}
		if st := dcw.States(time.Now()); len(st) != 3 || st[1].State != "operational" || st[2].State != "operational" {
			return fmt.Errorf("states with every node up: %+v", st)
		}
		return nil
	})
	stopped := time.Now()
	c.Stop(2)
	var lost haetae.Fault
	testnode.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		f := dcw.Check(time.Now())
		if len(f) != 1 || f[0].Key != "dc_unreachable:dc3" {
			return fmt.Errorf("faults after dc3 stopped: %v", keys(f))
		}
		lost = f[0]
		return nil
	})
	if time.Since(stopped) > 15*time.Second || lost.Since.After(stopped) || stopped.Sub(lost.Since) > 5*time.Second {
		t.Fatalf("dc3 stopped at %s; the fault says since %s", stopped, lost.Since)
	}
	if !strings.Contains(lost.Cause, "dc1") || !strings.Contains(lost.Cause, "dc3") {
		t.Fatalf("the cause does not say whose view and which DC: %s", lost.Cause)
	}
	if st := dcw.States(time.Now()); st[2].Name != "dc3" || st[2].State != "unreachable" {
		t.Fatalf("states: %+v", st)
	}
	// Streams: those dc1 leads lack their dc3 replica; with dc3 known lost that is not a fault of its own.
	led := 0
	for _, h := range streamHealth(n1)() {
		if h.Led {
			led++
		}
	}
	if led > 0 {
		testnode.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
			f := sw.Check(time.Now())
			if len(f) != 1 || f[0].Key != "replica_missing:dc3" {
				return fmt.Errorf("stream faults of a leader of %d streams: %v", led, keys(f))
			}
			return nil
		})
	}
	if f := excused.Check(time.Now()); len(f) != 0 {
		t.Fatalf("stream faults although dc3 is known lost: %v", keys(f))
	}

	c.Restart(2)
	testnode.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if f := dcw.Check(time.Now()); len(f) != 0 {
			return fmt.Errorf("faults after dc3 is back: %v", keys(f))
		}
		if f := sw.Check(time.Now()); len(f) != 0 {
			return fmt.Errorf("stream faults after dc3 is back: %v", keys(f))
		}
		return nil
	})
}

// TestDiskWatch reads the real JetStream usage of a node and the real free space of its file system;
// the thresholds are what the test moves.
func TestDiskWatch(t *testing.T) {
	cfg := testnode.Config(t)
	cfg.MaxStore = 64 << 20
	n := testnode.MustStart(t, cfg)
	base := n.URL()
	tok := testnode.MustUser(t, base, "alice")
	var room struct{ ID string }
	testnode.DoJSON(t, "POST", base+"/v1/rooms", tok, map[string]any{"members": []string{}}).JSON(t, &room)
	for i := range 20 {
		testnode.DoJSON(t, "POST", base+"/v1/rooms/"+room.ID+"/messages", tok, map[string]string{"client_id": fmt.Sprint("m", i), "text": strings.Repeat("가", 4000)})
	}
	used, limit := n.NATS.StoreUsage()
	if used < 200<<10 || limit != 64<<20 {
		t.Fatalf("store usage %d of %d after 20 messages of 12 KB", used, limit)
	}
	free := func() (uint64, uint64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(cfg.DataDir, &st); err != nil {
			return 0, 0, err
		}
		return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
	}
	cases := []struct {
		name    string
		ratio   float64
		minFree uint64
		want    string // "" for no fault, else a piece of the cause
	}{
		{"room_to_spare", 0.9, 0, ""},
		{"store_nearly_full", float64(used) / float64(limit) * 0.9, 0, "JetStream stores"},
		{"file_system_nearly_full", 0.9, 1 << 62, "free of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &status.DiskWatch{Node: "n1", DC: "dc1", Usage: n.NATS.StoreUsage, Free: free, StoreRatio: tc.ratio, MinFree: tc.minFree}
			f := w.Check(time.Now())
			switch {
			case tc.want == "" && len(f) != 0:
				t.Fatalf("fault without cause: %+v", f)
			case tc.want != "" && (len(f) != 1 || f[0].Key != "disk_full:n1" || !strings.Contains(f[0].Cause, tc.want)):
				t.Fatalf("faults %+v, want one whose cause says %q", f, tc.want)
			}
		})
	}
	if _, _, err := free(); err != nil {
		t.Fatal(errors.Join(err))
	}
}

// TestShedWatch: the load shedder's hook names classes and a rate; silence ends the fault.
func TestShedWatch(t *testing.T) {
	rate := 120.0
	w := &status.ShedWatch{Node: "n1", DC: "dc1", Components: []string{"messaging"}, Shedding: func() ([]string, float64) { return []string{"bulk", "presence"}, rate }}
	f := w.Check(time.Now())
	if len(f) != 1 || f[0].Key != "load_shed:n1" || !strings.Contains(f[0].Cause, "120") || !strings.Contains(f[0].Cause, "bulk, presence") {
		t.Fatalf("faults: %+v", f)
	}
	rate = 0
	if f := w.Check(time.Now()); len(f) != 0 {
		t.Fatalf("faults after shedding stopped: %+v", f)
	}
	if f := (&status.ShedWatch{Node: "n1"}).Check(time.Now()); len(f) != 0 {
		t.Fatalf("faults without a shedder: %+v", f)
	}
}
