package testnode

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae/node"
)

// TestSecret is the cluster secret of in-process test clusters.
const TestSecret = "test-cluster-secret-0123456789"

// Cluster is a cluster of real nodes in this process, one per data center, each with its own data
// directory, API port and route port, all on loopback.
type Cluster struct {
	tb      testing.TB
	Configs []node.Config
	Nodes   []*node.Node
}

// FreePort returns a loopback address with a port that was free a moment ago. Routes need their peers'
// addresses before any node starts, so ":0" will not do.
func FreePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ClusterConfigs returns the configurations of an n-node cluster, dc1..dcN. tweak, when set, adjusts
// each before start.
func ClusterConfigs(tb testing.TB, n int) []node.Config {
	tb.Helper()
	routes := make([]string, n)
	for i := range routes {
		routes[i] = FreePort(tb)
	}
	cfgs := make([]node.Config, n)
	for i := range cfgs {
		cfg := Config(tb)
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, r)
			}
		}
		cfg.Cluster = &node.ClusterConfig{
			DC:     fmt.Sprintf("dc%d", i+1),
			Listen: routes[i],
			Peers:  peers,
			Secret: TestSecret,
		}
		cfg.StartTimeout = time.Minute
		if os.Getenv("HAETAE_TEST_LOG") != "" {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", i+1)
		}
		cfgs[i] = cfg
	}
	return cfgs
}

// StartCluster starts the nodes of cfgs at once (each waits for a majority) and stops them when the
// test ends.
func StartCluster(tb testing.TB, cfgs []node.Config) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, Configs: cfgs, Nodes: make([]*node.Node, len(cfgs))}
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := node.New(cfgs[i])
			errs[i] = n.Open(context.Background())
			c.Nodes[i] = n
		}()
	}
	wg.Wait()
	tb.Cleanup(c.Close)
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("start node %d: %v", i+1, err)
		}
	}
	return c
}

// MustCluster starts an n-node cluster with default test settings.
func MustCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	return StartCluster(tb, ClusterConfigs(tb, n))
}

// Stop closes node i gracefully, as SIGTERM would.
func (c *Cluster) Stop(i int) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.Nodes[i].Close(ctx)
}

// Restart starts node i again on its old data and ports.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	cfg := c.Configs[i]
	cfg.Listen = c.Nodes[i].Addr()
	n := node.New(cfg)
	if err := n.Open(context.Background()); err != nil {
		c.tb.Fatalf("restart node %d: %v", i+1, err)
	}
	c.Nodes[i] = n
}

// URLs are the nodes' API base URLs.
func (c *Cluster) URLs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.URL())
	}
	return out
}

// Close stops every node.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Stop(i)
		}()
	}
	wg.Wait()
}
