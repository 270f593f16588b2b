package drill

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/client"
)

// node is one place a history is read from.
type node struct {
	name, url string
}

// verifyHistories reads every room's whole history from every node, page by page, until all nodes
// show the same history of each room and it holds every acknowledged message. A read that lags (a
// follower behind its leader, a node catching up after a restart) is read again until timeout; what
// waiting cannot fix fails the test at once: a message twice, a seq out of order, a message nobody
// sent, or an acknowledged message at another seq than its acknowledgement said. It returns the number
// of messages verified.
func verifyHistories(tb testing.TB, nodes []node, token string, l *load, rooms []string, timeout time.Duration) int {
	tb.Helper()
	acked := map[string]map[string]uint64{} // room → client_id → seq
	for _, a := range l.snapshot() {
		if !a.acked() {
			continue
		}
		if acked[a.Room] == nil {
			acked[a.Room] = map[string]uint64{}
		}
		if seq, ok := acked[a.Room][a.ClientID]; ok && seq != a.Seq {
			tb.Fatalf("room %s: %s acknowledged twice, at seq %d and %d", a.Room, a.ClientID, seq, a.Seq)
		}
		acked[a.Room][a.ClientID] = a.Seq
	}
	l.mu.Lock()
	texts := l.texts
	l.mu.Unlock()

	deadline := time.Now().Add(timeout)
	total := 0
	for _, room := range rooms {
		for {
			n, err := checkRoom(tb, nodes, token, room, acked[room], texts)
			if err == nil {
				total += n
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("histories did not converge within %s: %v", timeout, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return total
}

// checkRoom reads room from every node. It fails the test for a history that is wrong, and returns an
// error for one that may only be behind.
func checkRoom(tb testing.TB, nodes []node, token, room string, acked map[string]uint64, texts map[string]string) (int, error) {
	tb.Helper()
	var first []string
	for i, n := range nodes {
		msgs, err := readHistory(n.url, token, room)
		if err != nil {
			return 0, fmt.Errorf("%s: read room %s: %w", n.name, room, err)
		}
		seen := map[string]uint64{}
		var prev uint64
		var list []string
		for _, m := range msgs {
			if m.Seq <= prev {
				tb.Fatalf("%s: room %s: seq %d (%s) after seq %d", n.name, room, m.Seq, m.ClientID, prev)
			}
			prev = m.Seq
			if s, dup := seen[m.ClientID]; dup {
				tb.Fatalf("%s: room %s: %s stored twice, at seq %d and %d", n.name, room, m.ClientID, s, m.Seq)
			}
			seen[m.ClientID] = m.Seq
			text, sent := texts[room+"/"+m.ClientID]
			if !sent || text != m.Text {
				tb.Fatalf("%s: room %s: seq %d holds %s %q, which no writer sent", n.name, room, m.Seq, m.ClientID, m.Text)
			}
			if want, ok := acked[m.ClientID]; ok && want != m.Seq {
				tb.Fatalf("%s: room %s: %s is at seq %d but was acknowledged with seq %d", n.name, room, m.ClientID, m.Seq, want)
			}
			list = append(list, fmt.Sprintf("%d:%s", m.Seq, m.ClientID))
		}
		var missing []string
		for id, seq := range acked {
			if _, ok := seen[id]; !ok {
				missing = append(missing, fmt.Sprintf("%s (seq %d)", id, seq))
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return 0, fmt.Errorf("%s: room %s lacks %d acknowledged messages: %s", n.name, room, len(missing), strings.Join(missing[:min(5, len(missing))], ", "))
		}
		if i == 0 {
			first = list
		} else if d := firstDifference(first, list); d != "" {
			return 0, fmt.Errorf("room %s: %s and %s differ: %s", room, nodes[0].name, n.name, d)
		}
	}
	return len(first), nil
}

func firstDifference(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at message %d: %s against %s", i+1, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d messages against %d", len(a), len(b))
	}
	return ""
}

// readHistory reads a room's whole history from the node at url alone (no failover, no retry).
func readHistory(url, token, room string) ([]*haetae.Message, error) {
	cl, err := client.New([]string{url}, client.WithDiscovery(false), client.WithRetryBudget(0), client.WithToken(token))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var all []*haetae.Message
	var after uint64
	for range 10000 { // bounded: 5 million messages
		msgs, next, err := cl.History(ctx, room, haetae.HistoryQuery{After: after, Limit: 500})
		if err != nil {
			return nil, err
		}
		if len(msgs) == 0 {
			return all, nil
		}
		all = append(all, msgs...)
		after = next
	}
	return nil, fmt.Errorf("room %s has more than 10,000 pages", room)
}

// checkRealTimeOrder fails the test if a message acknowledged before another was first sent got the
// higher seq: seqs must follow real time across writers and DCs, not only within one writer.
func checkRealTimeOrder(tb testing.TB, as []attempt) {
	tb.Helper()
	type msg struct {
		id         string
		seq        uint64
		start, ack time.Time
	}
	byRoom := map[string]map[string]*msg{}
	for _, a := range as {
		if byRoom[a.Room] == nil {
			byRoom[a.Room] = map[string]*msg{}
		}
		m := byRoom[a.Room][a.ClientID]
		if m == nil {
			m = &msg{id: a.ClientID, start: a.Start}
			byRoom[a.Room][a.ClientID] = m
		}
		if a.Start.Before(m.start) {
			m.start = a.Start
		}
		if a.acked() {
			m.seq, m.ack = a.Seq, a.End
		}
	}
	for room, msgs := range byRoom {
		var list []*msg
		for _, m := range msgs {
			if m.seq > 0 {
				list = append(list, m)
			}
		}
		// From the highest seq down, keep the earliest acknowledgement among higher seqs: a message
		// first sent after it must not have a lower seq.
		sort.Slice(list, func(i, j int) bool { return list[i].seq > list[j].seq })
		var earliest *msg
		for _, m := range list {
			if earliest != nil && earliest.ack.Before(m.start) {
				tb.Fatalf("room %s: %s (seq %d) was acknowledged at %s, before %s was first sent at %s, yet %s got the lower seq %d",
					room, earliest.id, earliest.seq, earliest.ack.Format("15:04:05.000000"), m.id, m.start.Format("15:04:05.000000"), m.id, m.seq)
			}
			if earliest == nil || m.ack.Before(earliest.ack) {
				earliest = m
			}
		}
	}
}
