package node_test

import (
	"testing"
	"time"

	"github.com/haetae/haetae/internal/testnode"
)

func TestClusterSmoke(t *testing.T) {
	c := testnode.MustCluster(t, 3)
	urls := c.URLs()
	tok := testnode.MustUser(t, urls[0], "alice")
	r := testnode.DoJSON(t, "POST", urls[1]+"/v1/rooms", tok, map[string]any{"title": "t", "members": []string{}})
	t.Logf("create room via node 2: %d %s", r.Status, r.Body)
	r = testnode.Do(t, "GET", urls[2]+"/v1/endpoints", "", nil)
	t.Logf("endpoints: %s", r.Body)
	c.Stop(2)
	r = testnode.Do(t, "GET", urls[0]+"/readyz", "", nil)
	t.Logf("readyz after 1 stop: %d %s", r.Status, r.Body)
	c.Stop(1)
	start := time.Now()
	testnode.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		r = testnode.Do(t, "GET", urls[0]+"/readyz", "", nil)
		if r.Status == 200 {
			return errStr(string(r.Body))
		}
		return nil
	})
	t.Logf("readyz after 2 stops (%s): %d %s", time.Since(start), r.Status, r.Body)
	r = testnode.DoJSON(t, "POST", urls[0]+"/v1/users", "", map[string]string{"name": "bob", "password": "password-bob"})
	t.Logf("write without quorum: %d %v %s", r.Status, r.Header.Get("Retry-After"), r.Body)
}

type errStr string

func (e errStr) Error() string { return string(e) }
