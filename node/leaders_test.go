package node_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae/client"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/nats-io/nats.go/jetstream"
)

// streamsOf returns the JetStream view of every stream a node keeps, read through its own server.
func streamsOf(t *testing.T, c *testnode.Cluster, i int) map[string]*jetstream.StreamInfo {
	t.Helper()
	nc, err := c.Nodes[i].NATS.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]*jetstream.StreamInfo{}
	for _, name := range c.Nodes[i].Store.Streams() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatalf("stream %s info: %v", name, err)
		}
		out[name] = info
	}
	return out
}

// TestClusterPlacement: every stream and bucket is R3 with one replica in each data center, fsync
// before acknowledgement, never async persistence, and a duplicate window that outlasts retries across
// an election.
func TestClusterPlacement(t *testing.T) {
	c := testnode.MustCluster(t, 3)
	infos := streamsOf(t, c, 0)
	if len(infos) < 6 {
		t.Fatalf("only %d streams: %v", len(infos), c.Nodes[0].Store.Streams())
	}
	for name, info := range infos {
		if info.Config.Replicas != 3 {
			t.Errorf("%s has %d replicas, want 3", name, info.Config.Replicas)
		}
		if info.Cluster == nil {
			t.Errorf("%s has no cluster info", name)
			continue
		}
		// Server names are the DC names by default, so the set of servers is the set of DCs.
		servers := []string{info.Cluster.Leader}
		for _, r := range info.Cluster.Replicas {
			servers = append(servers, r.Name)
		}
		sort.Strings(servers)
		if got := strings.Join(servers, ","); got != "dc1,dc2,dc3" {
			t.Errorf("%s is placed on %s, want one replica in each of dc1,dc2,dc3", name, got)
		}
		if info.Config.PersistMode == jetstream.AsyncPersistMode {
			t.Errorf("%s acknowledges before persisting (persist_mode async)", name)
		}
		if strings.HasPrefix(name, "HAETAE_MSGS_") && info.Config.Duplicates < 10*time.Minute {
			t.Errorf("%s remembers message ids for %s only", name, info.Config.Duplicates)
		}
	}
}

// leadersByNode maps each node's name to the streams it leads, as its own server sees it.
func leadersByNode(c *testnode.Cluster) map[string][]string {
	out := map[string][]string{}
	for _, n := range c.Nodes {
		for _, s := range n.Store.Streams() {
			if n.NATS.IsStreamLeader(s) {
				out[n.NATS.Name()] = append(out[n.NATS.Name()], s)
			}
		}
	}
	return out
}

// TestClusterLeadersSpread: the stream leaders end up spread over the three data centers, so losing
// one stalls at most a third of the streams; then a drained node hands off every stream it leads, its
// /readyz fails, and writes through every node go on.
func TestClusterLeadersSpread(t *testing.T) {
	c := testnode.MustCluster(t, 3)
	streams := c.Nodes[0].Store.Streams()
	// Stream i prefers the (i mod 3)-th server by name: dc1, dc2, dc3, dc1, ...
	want := map[string][]string{}
	for i, s := range streams {
		dc := fmt.Sprintf("dc%d", i%3+1)
		want[dc] = append(want[dc], s)
	}
	testnode.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		by := leadersByNode(c)
		for dc, w := range want {
			if !slices.Equal(by[dc], w) {
				return fmt.Errorf("leaders are %v, want %v", by, want)
			}
		}
		return nil
	})
	msgStreams := map[string]bool{}
	for name, led := range leadersByNode(c) {
		for _, s := range led {
			if strings.HasPrefix(s, "HAETAE_MSGS_") {
				if msgStreams[name] {
					t.Errorf("%s leads two message streams: %v", name, leadersByNode(c))
				}
				msgStreams[name] = true
			}
		}
	}

	t.Run("Drain", func(t *testing.T) {
		base := c.Nodes[1].URL()
		tok := testnode.MustUser(t, base, "alice")
		var rooms []string
		for i := range 6 {
			var room struct{ ID string }
			testnode.DoJSON(t, "POST", base+"/v1/rooms", tok, map[string]any{"title": fmt.Sprint(i), "members": []string{}}).JSON(t, &room)
			rooms = append(rooms, room.ID)
		}
		// Writers through every node, during the drain, recording the slowest acknowledgement.
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex
		var slowest time.Duration
		var sent int
		for w, n := range c.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl, err := client.New([]string{n.URL()}, client.WithToken(tok), client.WithDiscovery(false))
				if err != nil {
					t.Error(err)
					return
				}
				for i := 0; i < 2000 && ctx.Err() == nil; i++ {
					start := time.Now()
					if _, _, err := cl.Send(context.Background(), rooms[i%len(rooms)], fmt.Sprintf("w%d-%d", w, i), "during the drain"); err != nil {
						t.Errorf("send through %s during the drain: %v", n.URL(), err)
						return
					}
					mu.Lock()
					slowest, sent = max(slowest, time.Since(start)), sent+1
					mu.Unlock()
				}
			}()
		}
		drained := c.Nodes[0]
		led := leadersByNode(c)[drained.NATS.Name()]
		var res struct {
			HandedOff []string `json:"handed_off"`
			TookMS    int64    `json:"took_ms"`
		}
		if r := testnode.Do(t, "POST", drained.URL()+"/v1/admin/drain", tok, nil); r.Status != 403 {
			t.Errorf("drain with a user's token: %d %s", r.Status, r.Body)
		}
		r := testnode.Do(t, "POST", drained.URL()+"/v1/admin/drain", drained.Config.AdminToken, nil)
		if r.Status != 200 {
			t.Fatalf("drain: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &res)
		slices.Sort(res.HandedOff)
		slices.Sort(led)
		if !slices.Equal(res.HandedOff, led) {
			t.Errorf("drain handed off %v, the node led %v", res.HandedOff, led)
		}
		if now := leadersByNode(c)[drained.NATS.Name()]; len(now) != 0 {
			t.Errorf("a drained node still leads %v", now)
		}
		if r := testnode.Do(t, "GET", drained.URL()+"/readyz", "", nil); r.Status != 503 {
			t.Errorf("readyz of a drained node: %d %s", r.Status, r.Body)
		}
		stop()
		wg.Wait()
		t.Logf("drain took %d ms; %d sends during it, the slowest took %s", res.TookMS, sent, slowest)
		// The drained node does not claim its streams back.
		if now := leadersByNode(c)[drained.NATS.Name()]; len(now) != 0 {
			t.Errorf("a drained node took leadership back: %v", now)
		}
	})
}

// TestClusterClientFailover: a client that knows one node learns the others, and when that node stops,
// its sends carry on through another and its live subscription resumes there from its cursor, with no
// gap and no duplicate.
func TestClusterClientFailover(t *testing.T) {
	c := testnode.MustCluster(t, 3)
	first := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.New([]string{first.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Register(ctx, "alice", "password-alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Login(ctx, "alice", "password-alice"); err != nil {
		t.Fatal(err)
	}
	if got := cl.Endpoints(); len(got) != 3 {
		t.Fatalf("the client learned %v, want all three nodes", got)
	}
	room, err := cl.CreateRoom(ctx, "failover", nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := cl.Subscribe(ctx, room.ID, 0)
	defer sub.Close()
	var want []uint64
	send := func(i int) {
		m, _, err := cl.Send(ctx, room.ID, fmt.Sprintf("m%d", i), fmt.Sprint("message ", i))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		want = append(want, m.Seq)
	}
	for i := range 20 {
		send(i)
	}
	c.Stop(0)
	for i := 20; i < 40; i++ {
		send(i)
	}
	var got []uint64
	for len(got) < len(want) {
		select {
		case m, ok := <-sub.Messages():
			if !ok {
				t.Fatalf("subscription ended: %v", sub.Err())
			}
			got = append(got, m.Seq)
		case <-ctx.Done():
			t.Fatalf("delivered %d of %d", len(got), len(want))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v\nwant      %v", got, want)
	}
}
