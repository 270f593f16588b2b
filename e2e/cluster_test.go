package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/haetae/haetae/internal/testnode"
)

// TestClusterOfProcessesFromConfigFiles runs three `haetae serve` processes configured by files, one per
// DC, SIGKILLs one while the others take writes, and restarts it: every acknowledged message is on
// every node, once, in the same order.
func TestClusterOfProcessesFromConfigFiles(t *testing.T) {
	dir := t.TempDir()
	routes := []string{testnode.FreePort(t), testnode.FreePort(t), testnode.FreePort(t)}
	apis := []string{testnode.FreePort(t), testnode.FreePort(t), testnode.FreePort(t)}
	secret := filepath.Join(dir, "cluster-secret")
	if err := os.WriteFile(secret, []byte("e2e-cluster-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	confs := make([]string, 3)
	for i := range confs {
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, r)
			}
		}
		conf := fmt.Sprintf(`# node of dc%[1]d
dc dc%[1]d
peers %[2]s
cluster-listen %[3]s
cluster-secret-file %[4]s
listen %[5]s
data %[6]s
`, i+1, strings.Join(peers, ","), routes[i], secret, apis[i], filepath.Join(dir, fmt.Sprintf("dc%d", i+1)))
		confs[i] = filepath.Join(dir, fmt.Sprintf("dc%d.conf", i+1))
		if err := os.WriteFile(confs[i], []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	procs := startAll(t, confs)
	urls := []string{procs[0].url, procs[1].url, procs[2].url}

	tok := testnode.MustUser(t, urls[1], "alice")
	var room struct{ ID string }
	testnode.DoJSON(t, "POST", urls[2]+"/v1/rooms", tok, map[string]any{"title": "dc", "members": []string{}}).JSON(t, &room)
	var acked []string
	send := func(url, id string) bool {
		r := testnode.DoJSON(t, "POST", url+"/v1/rooms/"+room.ID+"/messages", tok, map[string]string{"client_id": id, "text": "text of " + id})
		if r.Status == 201 || r.Status == 200 {
			acked = append(acked, id)
			return true
		}
		if r.Status != 503 {
			t.Fatalf("send %s via %s: %d %s", id, url, r.Status, r.Body)
		}
		return false
	}
	for i := range 20 {
		send(urls[i%3], fmt.Sprintf("m%03d", i))
	}

	procs[0].signal(t, syscall.SIGKILL)
	procs[0].wait(t, 10*time.Second)
	// The survivors carry on; writes to streams led by the dead node wait for an election and are
	// retried under the same id, which makes the retry safe.
	for i := 20; i < 40; i++ {
		id := fmt.Sprintf("m%03d", i)
		testnode.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			if !send(urls[1+i%2], id) {
				return fmt.Errorf("send %s not acknowledged yet", id)
			}
			return nil
		})
	}

	restarted := startServe(t, "--config", confs[0])
	urls[0] = restarted.url
	for i, u := range urls {
		testnode.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
			var ids []string
			for _, m := range testnode.History(t, u, tok, room.ID) {
				ids = append(ids, m.ClientID)
			}
			if got, want := strings.Join(ids, ","), strings.Join(acked, ","); got != want {
				return fmt.Errorf("node %d history:\n got %s\nwant %s", i+1, got, want)
			}
			return nil
		})
	}
}

// startAll starts one `haetae serve --config` per file at once: each waits for a majority before it
// serves, so one at a time would never finish.
func startAll(t *testing.T, confs []string) []*proc {
	t.Helper()
	procs := make([]*proc, len(confs))
	var wg sync.WaitGroup
	for i, c := range confs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i] = startServeEnv(t, []string{"HAETAE_CLUSTER_SECRET="}, "--config", c)
		}()
	}
	wg.Wait()
	for i, p := range procs {
		if p == nil {
			t.Fatalf("node %d did not start", i+1)
		}
	}
	return procs
}
