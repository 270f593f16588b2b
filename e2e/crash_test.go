package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

type sendResult struct {
	clientID string
	seq      uint64
	acked    bool
}

// TestSIGKILLLosesNothingAcknowledged kills a real `haetae serve` with SIGKILL while clients send. After a
// restart on the same data every acknowledged message is there exactly once with the seq it was
// acknowledged with, the sends that were in flight can be retried without duplicates, and new seqs
// continue above every old one.
func TestSIGKILLLosesNothingAcknowledged(t *testing.T) {
	data := t.TempDir()
	p := startServe(t, "--data", data, "--listen", "127.0.0.1:0")
	alice := testnode.MustUser(t, p.url, "alice")
	testnode.MustUser(t, p.url, "bob")
	r := testnode.DoJSON(t, "POST", p.url+"/v1/rooms", alice, map[string]any{"members": []string{"bob"}})
	var room haetae.Room
	r.JSON(t, &room)

	const senders = 8
	results := make(chan sendResult, 100000)
	var wg sync.WaitGroup
	var ackedCount atomic.Int64
	reached := make(chan struct{})
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ { // bounded: the kill comes long before
				id := fmt.Sprintf("s%d-%d", s, i)
				m, status, err := trySend(p.url, alice, room.ID, id)
				if err != nil || (status != 201 && status != 200) {
					results <- sendResult{clientID: id}
					return // the server is gone
				}
				results <- sendResult{clientID: id, seq: m.Seq, acked: true}
				if ackedCount.Add(1) == 400 {
					close(reached)
				}
			}
		}(s)
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("400 sends were not acknowledged within a minute")
	}
	p.signal(t, syscall.SIGKILL)
	p.wait(t, 10*time.Second)
	wg.Wait()
	close(results)

	acked := map[string]uint64{}
	var unacked []string
	var maxSeq uint64
	for res := range results {
		if res.acked {
			acked[res.clientID] = res.seq
			maxSeq = max(maxSeq, res.seq)
		} else {
			unacked = append(unacked, res.clientID)
		}
	}
	t.Logf("%d acknowledged, %d in flight at the kill", len(acked), len(unacked))

	p2 := startServe(t, "--data", data, "--listen", "127.0.0.1:0")
	token := testnode.Login(t, p2.url, "alice")
	// Retrying what was in flight is safe: each lands at most once.
	for _, id := range unacked {
		if _, status, err := trySend(p2.url, token, room.ID, id); err != nil || (status != 201 && status != 200) {
			t.Fatalf("retry of %s after restart: %d %v", id, status, err)
		}
	}
	after, status, err := trySend(p2.url, token, room.ID, "after-restart")
	if err != nil || status != 201 {
		t.Fatalf("send after restart: %d %v", status, err)
	}
	if after.Seq <= maxSeq {
		t.Fatalf("seq went backwards: %d after an acknowledged %d", after.Seq, maxSeq)
	}
	count := map[string]int{}
	stored := map[string]uint64{}
	var prev uint64
	for _, m := range testnode.History(t, p2.url, token, room.ID) {
		if m.Seq <= prev {
			t.Fatalf("history out of order: %d after %d", m.Seq, prev)
		}
		prev = m.Seq
		count[m.ClientID]++
		stored[m.ClientID] = m.Seq
	}
	for id, seq := range acked {
		if count[id] != 1 || stored[id] != seq {
			t.Fatalf("acknowledged %s (seq %d) is stored %d times at seq %d", id, seq, count[id], stored[id])
		}
	}
	for id, c := range count {
		if c != 1 {
			t.Fatalf("%s stored %d times", id, c)
		}
	}
	if len(count) != len(acked)+len(unacked)+1 {
		t.Fatalf("history holds %d ids, want %d", len(count), len(acked)+len(unacked)+1)
	}
}

// TestSIGTERMDrainsUnderLoad sends SIGTERM while clients send: the process exits 0, every send it
// answered was answered properly (2xx, or 503 while draining — never a 500), and every acknowledged
// message is there after a restart.
func TestSIGTERMDrainsUnderLoad(t *testing.T) {
	data := t.TempDir()
	p := startServe(t, "--data", data, "--listen", "127.0.0.1:0")
	alice := testnode.MustUser(t, p.url, "alice")
	r := testnode.DoJSON(t, "POST", p.url+"/v1/rooms", alice, map[string]any{"members": []string{}})
	var room haetae.Room
	r.JSON(t, &room)

	var acked sync.Map
	var count atomic.Int64
	reached := make(chan struct{})
	var wg sync.WaitGroup
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ { // bounded: SIGTERM comes long before
				id := fmt.Sprintf("t%d-%d", s, i)
				m, status, err := trySend(p.url, alice, room.ID, id)
				if err != nil {
					return // the listener is closed: the server is going
				}
				switch status {
				case 200, 201:
					acked.Store(id, m.Seq)
					if count.Add(1) == 200 {
						close(reached)
					}
				case 503:
					return
				default:
					t.Errorf("send %s during shutdown: status %d", id, status)
					return
				}
			}
		}(s)
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("200 sends were not acknowledged within a minute")
	}
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.out.String())
	}
	wg.Wait()
	p.waitOutput(t, "haetae: stopped in")

	p2 := startServe(t, "--data", data, "--listen", "127.0.0.1:0")
	stored := map[string]uint64{}
	for _, m := range testnode.History(t, p2.url, testnode.Login(t, p2.url, "alice"), room.ID) {
		stored[m.ClientID] = m.Seq
	}
	n := 0
	acked.Range(func(k, v any) bool {
		n++
		if stored[k.(string)] != v.(uint64) {
			t.Errorf("acknowledged %s (seq %d) is missing after a clean stop", k, v)
		}
		return true
	})
	t.Logf("%d sends acknowledged before the stop", n)
}
