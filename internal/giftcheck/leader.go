package giftcheck

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// LeaderByMetrics finds which of the nodes at urls leads stream, from their /metrics
// (haetae_stream_leader{stream="..."} 1): the way a drill finds the leader of a cluster it sees only
// from outside. Nodes that do not answer are skipped. It returns -1 when none says it leads.
func LeaderByMetrics(hc *http.Client, urls []string, stream string) int {
	want := `haetae_stream_leader{stream="` + stream + `"} 1`
	for i, u := range urls {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/metrics", nil)
		resp, err := hc.Do(req)
		if err != nil {
			cancel()
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		found := false
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == want {
				found = true
				break
			}
		}
		resp.Body.Close()
		cancel()
		if found {
			return i
		}
	}
	return -1
}

// WaitLeader polls [LeaderByMetrics] until a node leads stream, or fails after total.
func WaitLeader(hc *http.Client, urls []string, stream string, total time.Duration) (int, error) {
	deadline := time.Now().Add(total)
	for {
		if i := LeaderByMetrics(hc, urls, stream); i >= 0 {
			return i, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("no node of %v says it leads %s", urls, stream)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
