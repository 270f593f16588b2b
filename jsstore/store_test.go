package jsstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/embednats"
	"github.com/haetae/haetae/jsstore"
)

// cheapArgon keeps password hashing from dominating test time; the cost is a parameter, not the logic.
var cheapArgon = jsstore.Argon2Params{Time: 1, Memory: 1024, Threads: 1}

func mustStore(tb testing.TB) *jsstore.Store {
	tb.Helper()
	return mustStoreWith(tb, func(*jsstore.Config) {})
}

func mustStoreWith(tb testing.TB, change func(*jsstore.Config)) *jsstore.Store {
	tb.Helper()
	cfg := jsstore.DefaultConfig()
	cfg.Argon2 = cheapArgon
	change(&cfg)
	ns, err := embednats.Start(embednats.Config{DataDir: tb.TempDir(), ServerName: "test", MaxBatchSize: cfg.NeededBatchSize()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ns.Shutdown)
	nc, err := ns.Connect("test")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	st, err := jsstore.Open(context.Background(), nc, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st
}

func mustUsers(tb testing.TB, st *jsstore.Store, names ...string) {
	tb.Helper()
	for _, n := range names {
		if err := st.Users.CreateUser(context.Background(), n, "password1"); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestConcurrentSendsGetTheirOwnSeq(t *testing.T) {
	st := mustStore(t)
	ctx := context.Background()
	mustUsers(t, st, "alice", "bob")
	room, _, err := st.Rooms.CreateRoom(ctx, "alice", "", "t", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			m, created, err := st.Messages.Send(ctx, "alice", room.ID, fmt.Sprintf("c%d", i), fmt.Sprintf("text %d", i))
			if err != nil || !created {
				errs <- fmt.Errorf("send %d: created=%v err=%v", i, created, err)
				return
			}
			seqs[i] = m.Seq
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every acknowledged seq holds exactly the message it was acknowledged for.
	got := map[uint64]*haetae.Message{}
	var after uint64
	for {
		page, next, err := st.Messages.History(ctx, "bob", room.ID, haetae.HistoryQuery{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			got[m.Seq] = m
		}
		if len(page) == 0 {
			break
		}
		after = next
	}
	if len(got) != n {
		t.Fatalf("history has %d messages, want %d", len(got), n)
	}
	for i, s := range seqs {
		m := got[s]
		if m == nil || m.ClientID != fmt.Sprintf("c%d", i) || m.Text != fmt.Sprintf("text %d", i) {
			t.Fatalf("seq %d acknowledged for c%d holds %+v", s, i, m)
		}
	}
	// A repeat returns the original; the same id with other text is a conflict.
	m, created, err := st.Messages.Send(ctx, "alice", room.ID, "c7", "text 7")
	if err != nil || created || m.Seq != seqs[7] {
		t.Fatalf("repeat: %+v %v %v, want seq %d not created", m, created, err, seqs[7])
	}
	if _, _, err := st.Messages.Send(ctx, "alice", room.ID, "c7", "other"); haetae.ErrorCode(err) != haetae.EIdempotencyConflict {
		t.Fatalf("conflicting repeat: %v", err)
	}
	// Backward pages cover the room from the end without gaps or overlap.
	var back []uint64
	before := uint64(0)
	for {
		q := haetae.HistoryQuery{Before: before, Limit: 300}
		if before == 0 {
			q.Before = seqs[0] + 1<<40
		}
		page, next, err := st.Messages.History(ctx, "bob", room.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for i := len(page) - 1; i >= 0; i-- {
			back = append(back, page[i].Seq)
		}
		before = next
	}
	if len(back) != n {
		t.Fatalf("backward pages hold %d messages, want %d", len(back), n)
	}
	for i := 1; i < len(back); i++ {
		if back[i] >= back[i-1] {
			t.Fatalf("backward order broken at %d: %d after %d", i, back[i], back[i-1])
		}
	}
	rooms, err := st.Rooms.Rooms(ctx, "bob")
	if err != nil || len(rooms) != 1 || rooms[0].Unread != n {
		t.Fatalf("bob's rooms: %+v %v", rooms, err)
	}
	if err := st.Rooms.MarkRead(ctx, "bob", room.ID, back[len(back)-1]); err != nil { // the first message
		t.Fatal(err)
	}
	rooms, _ = st.Rooms.Rooms(ctx, "bob")
	if rooms[0].Unread != n-1 {
		t.Fatalf("unread after reading one: %d", rooms[0].Unread)
	}
}

func TestSubscribeCatchesUpThenFollows(t *testing.T) {
	st := mustStore(t)
	ctx := context.Background()
	mustUsers(t, st, "alice", "bob")
	room, _, _ := st.Rooms.CreateRoom(ctx, "alice", "", "", []string{"bob"})
	for i := 0; i < 10; i++ {
		st.Messages.Send(ctx, "alice", room.ID, fmt.Sprintf("a%d", i), "x")
	}
	sub, err := st.Live.Subscribe(ctx, "bob", room.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	go func() {
		for i := 0; i < 10; i++ {
			st.Messages.Send(ctx, "alice", room.ID, fmt.Sprintf("b%d", i), "y")
		}
	}()
	var last uint64
	deadline := time.After(10 * time.Second)
	for got := 0; got < 20; {
		select {
		case d, ok := <-sub.Deliveries():
			if !ok {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			if d.Message == nil {
				continue
			}
			if d.Message.Seq <= last {
				t.Fatalf("seq %d after %d", d.Message.Seq, last)
			}
			last = d.Message.Seq
			got++
		case <-deadline:
			t.Fatal("timed out waiting for live messages")
		}
	}
	if _, err := st.Live.Subscribe(ctx, "carol", room.ID, 0); haetae.ErrorCode(err) != haetae.ENotFound {
		t.Fatalf("non-member subscribe: %v", err)
	}
}

// TestRepeatsInsideAtomicBatches sends many repeats of acknowledged messages at once, so that they land
// in atomic batches beside new messages: JetStream refuses such a batch whole, and the store must fall
// back to publishing each message, answering repeats with their originals and committing the new ones
// once.
func TestRepeatsInsideAtomicBatches(t *testing.T) {
	ns, err := embednats.Start(embednats.Config{DataDir: t.TempDir(), ServerName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, _ := ns.Connect("test")
	t.Cleanup(nc.Close)
	cfg := jsstore.DefaultConfig()
	cfg.Argon2 = cheapArgon
	var biggest atomic.Int64
	cfg.OnCommit = func(n int, _ time.Duration) {
		for {
			b := biggest.Load()
			if int64(n) <= b || biggest.CompareAndSwap(b, int64(n)) {
				return
			}
		}
	}
	st, err := jsstore.Open(context.Background(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	ctx := context.Background()
	mustUsers(t, st, "alice")
	room, _, _ := st.Rooms.CreateRoom(ctx, "alice", "", "", []string{})
	orig := map[string]uint64{}
	for i := 0; i < 100; i++ {
		m, _, err := st.Messages.Send(ctx, "alice", room.ID, fmt.Sprintf("old%d", i), "old")
		if err != nil {
			t.Fatal(err)
		}
		orig[m.ClientID] = m.Seq
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string]*haetae.Message{}
	for i := 0; i < 400; i++ {
		id, text := fmt.Sprintf("new%d", i), "new"
		if i%2 == 0 {
			id, text = fmt.Sprintf("old%d", i/4), "old"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, created, err := st.Messages.Send(ctx, "alice", room.ID, id, text)
			if err != nil {
				t.Errorf("send %s: %v", id, err)
				return
			}
			if _, isOld := orig[id]; isOld == created {
				t.Errorf("send %s: created=%v", id, created)
			}
			mu.Lock()
			results[id] = m
			mu.Unlock()
		}()
	}
	wg.Wait()
	if biggest.Load() < 16 {
		t.Fatalf("no batch reached the atomic size (largest %d): the test did not exercise atomic batches", biggest.Load())
	}
	for id, seq := range orig {
		if m := results[id]; m != nil && m.Seq != seq {
			t.Fatalf("repeat of %s answered seq %d, original %d", id, m.Seq, seq)
		}
	}
	count := 0
	var after uint64
	for {
		page, next, err := st.Messages.History(ctx, "alice", room.ID, haetae.HistoryQuery{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		count += len(page)
		after = next
	}
	if count != 300 {
		t.Fatalf("room holds %d messages, want 100 old + 200 new", count)
	}
}

// TestFullRoomIsOneAtomicWrite creates a room of the most members allowed, which the store writes with
// its member index as one atomic batch, and checks that every member finds it and that one more member is
// refused.
func TestFullRoomIsOneAtomicWrite(t *testing.T) {
	st := mustStore(t)
	ctx := context.Background()
	max := jsstore.DefaultConfig().Limits.MembersMax
	names := make([]string, 0, max)
	for i := 0; i < max; i++ {
		names = append(names, fmt.Sprintf("user%04d", i))
	}
	mustUsers(t, st, names...)
	mustUsers(t, st, "latecomer")
	room, created, err := st.Rooms.CreateRoom(ctx, names[0], "", "everyone", names[1:])
	if err != nil {
		t.Fatalf("create full room: %v", err)
	}
	if !created || len(room.Members) != max {
		t.Fatalf("create full room: created=%v members=%d", created, len(room.Members))
	}
	for _, n := range []string{names[1], names[max/2], names[max-1]} {
		rooms, err := st.Rooms.Rooms(ctx, n)
		if err != nil || len(rooms) != 1 || rooms[0].ID != room.ID {
			t.Fatalf("%s's rooms: %+v %v", n, rooms, err)
		}
	}
	if _, err := st.Rooms.AddMember(ctx, names[0], room.ID, "latecomer"); haetae.ErrorCode(err) != haetae.ETooManyMembers {
		t.Fatalf("adding member %d: %v", max+1, err)
	}
	if rooms, _ := st.Rooms.Rooms(ctx, "latecomer"); len(rooms) != 0 {
		t.Fatalf("a refused member sees %d rooms", len(rooms))
	}
}

// TestSlowConsumerIsCutOffAndResumes lets a subscriber stop reading while messages keep coming: the hub
// must not buffer without bound, so the subscription ends as a slow consumer; resuming from the cursor
// then delivers every message exactly once.
func TestSlowConsumerIsCutOffAndResumes(t *testing.T) {
	st := mustStoreWith(t, func(c *jsstore.Config) { c.LiveBuffer = 8 })
	ctx := context.Background()
	mustUsers(t, st, "alice")
	room, _, _ := st.Rooms.CreateRoom(ctx, "alice", "", "", []string{})
	sub, err := st.Live.Subscribe(ctx, "alice", room.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const n = 300
	for i := 0; i < n; i++ {
		if _, _, err := st.Messages.Send(ctx, "alice", room.ID, fmt.Sprintf("m%d", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]bool{}
	var cursor uint64
	read := func(sub haetae.Subscription, until int) {
		deadline := time.After(10 * time.Second)
		for len(seen) < until {
			select {
			case d, ok := <-sub.Deliveries():
				if !ok {
					return
				}
				if d.Message == nil {
					continue
				}
				if seen[d.Message.Seq] || d.Message.Seq <= cursor {
					t.Fatalf("seq %d delivered twice or out of order (cursor %d)", d.Message.Seq, cursor)
				}
				seen[d.Message.Seq], cursor = true, d.Message.Seq
			case <-deadline:
				t.Fatalf("stuck after %d messages", len(seen))
			}
		}
	}
	read(sub, n)
	if len(seen) == n {
		t.Fatal("a subscriber that did not read for 300 messages was never cut off")
	}
	if haetae.ErrorCode(sub.Err()) != haetae.ESlowConsumer {
		t.Fatalf("subscription ended with %v, want slow_consumer", sub.Err())
	}
	again, err := st.Live.Subscribe(ctx, "alice", room.ID, cursor)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	read(again, n)
	if len(seen) != n {
		t.Fatalf("after resuming, %d of %d messages", len(seen), n)
	}
}

// TestConcurrentMemberAddsLoseNone adds many members to one room at once: each write carries the
// revision it read, JetStream refuses the stale ones, and the losers retry, so no addition is lost.
func TestConcurrentMemberAddsLoseNone(t *testing.T) {
	st := mustStore(t)
	ctx := context.Background()
	mustUsers(t, st, "owner")
	var names []string
	for i := 0; i < 20; i++ {
		names = append(names, fmt.Sprintf("guest%02d", i))
	}
	mustUsers(t, st, names...)
	room, _, err := st.Rooms.CreateRoom(ctx, "owner", "", "party", []string{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Rooms.AddMember(ctx, "owner", room.ID, n); err != nil {
				t.Errorf("add %s: %v", n, err)
			}
		}()
	}
	wg.Wait()
	rooms, err := st.Rooms.Rooms(ctx, "owner")
	if err != nil || len(rooms) != 1 {
		t.Fatalf("owner's rooms: %v %v", rooms, err)
	}
	if got := len(rooms[0].Members); got != 21 {
		t.Fatalf("room has %d members after 20 concurrent additions, want 21: %v", got, rooms[0].Members)
	}
	for _, n := range names {
		if rs, err := st.Rooms.Rooms(ctx, n); err != nil || len(rs) != 1 {
			t.Fatalf("%s does not find the room: %v %v", n, rs, err)
		}
	}
}

// TestConcurrentReadReceiptsKeepTheHighest marks a room read at many positions at once: the read position
// ends at the highest, never lower, whatever the order the writes land in.
func TestConcurrentReadReceiptsKeepTheHighest(t *testing.T) {
	st := mustStore(t)
	ctx := context.Background()
	mustUsers(t, st, "alice")
	room, _, _ := st.Rooms.CreateRoom(ctx, "alice", "", "", []string{})
	var last uint64
	for i := 0; i < 30; i++ {
		m, _, err := st.Messages.Send(ctx, "alice", room.ID, fmt.Sprintf("m%d", i), "x")
		if err != nil {
			t.Fatal(err)
		}
		last = m.Seq
	}
	var wg sync.WaitGroup
	for seq := uint64(1); seq <= last; seq++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.Rooms.MarkRead(ctx, "alice", room.ID, seq); err != nil {
				t.Errorf("mark read %d: %v", seq, err)
			}
		}()
	}
	wg.Wait()
	rooms, err := st.Rooms.Rooms(ctx, "alice")
	if err != nil || len(rooms) != 1 || rooms[0].Unread != 0 {
		t.Fatalf("after reading up to %d: %+v %v", last, rooms, err)
	}
	if err := st.Rooms.MarkRead(ctx, "alice", room.ID, 1); err != nil {
		t.Fatal(err)
	}
	if rooms, _ := st.Rooms.Rooms(ctx, "alice"); rooms[0].Unread != 0 {
		t.Fatalf("an older receipt moved the read position back: unread %d", rooms[0].Unread)
	}
}
