package dctest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/haetae/haetae/internal/dctest"
	"github.com/haetae/haetae/internal/testnode"
)

// TestRoutesCrossToxiproxy starts a cluster and checks what the drills rely on: every node lists the
// three DCs at the URLs the host reaches them by; the routes between DCs pass through Toxiproxy alone,
// so that cutting a DC's links there takes its quorum away; a stopped node comes back at its URL.
func TestRoutesCrossToxiproxy(t *testing.T) {
	c := dctest.Start(t, dctest.Options{})
	for i := range c.DCs() {
		testnode.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
			var body struct {
				Endpoints []struct {
					URL   string `json:"url"`
					DC    string `json:"dc"`
					Ready bool   `json:"ready"`
				} `json:"endpoints"`
			}
			r := testnode.Do(t, "GET", c.URL(i)+"/v1/endpoints", c.AdminToken(), nil)
			if r.Status != http.StatusOK {
				return fmt.Errorf("%s: GET /v1/endpoints: %d %s", c.DC(i), r.Status, r.Body)
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				return err
			}
			var urls []string
			for _, e := range body.Endpoints {
				if !e.Ready {
					return fmt.Errorf("%s lists %s as not ready", c.DC(i), e.DC)
				}
				urls = append(urls, e.URL)
			}
			want := c.URLs()
			slices.Sort(urls)
			slices.Sort(want)
			if !slices.Equal(urls, want) {
				return fmt.Errorf("%s lists endpoints %q, want %q", c.DC(i), urls, want)
			}
			return nil
		})
	}

	c.CutLink(0, 1)
	c.CutLink(0, 2)
	testnode.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if r := testnode.Do(t, "GET", c.URL(0)+"/readyz", "", nil); r.Status != http.StatusServiceUnavailable {
			return fmt.Errorf("dc1 /readyz = %d with its links cut at Toxiproxy, want 503", r.Status)
		}
		return nil
	})
	for _, i := range []int{1, 2} {
		if r := testnode.Do(t, "GET", c.URL(i)+"/readyz", "", nil); r.Status != http.StatusOK {
			t.Fatalf("%s /readyz = %d while only dc1 is cut off, want 200", c.DC(i), r.Status)
		}
	}
	c.HealLink(0, 1)
	c.HealLink(0, 2)
	c.WaitReady(0)

	// A graceful stop and a start bring back the same node at the same URL.
	url := c.URL(2)
	c.Stop(2)
	if _, err := http.Get(url + "/readyz"); err == nil {
		t.Fatalf("%s still answers after Stop", url)
	}
	c.Start(2)
	c.WaitReady(2)
	if c.URL(2) != url {
		t.Fatalf("dc3's URL changed across a restart: %s, then %s", url, c.URL(2))
	}
}
