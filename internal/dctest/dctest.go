// Package dctest runs a Haetae cluster of one container per data center on this machine's Docker, for
// fault drills: kill a DC (SIGKILL), stop it (SIGTERM), cut it off the inter-DC network, or slow every
// route link, while the test drives the API from the host. It builds the server image from the
// repository's Dockerfile and a Toxiproxy image from its own small module (./toxiproxy), and wires the
// nodes so that every byte between two DCs passes through Toxiproxy:
//
//	host (test) ──127.0.0.1:port──▶ dcN  [network <run>-dcN: dcN alone; API, and NATS for inspection]
//	dcI ──toxiproxy:70IJ──▶ Toxiproxy ──dcJ:6222──▶ dcJ   [network <run>-wan: the nodes and Toxiproxy]
//
// Drills for messages, gift coupons or incidents all start here: [Start], then [Cluster.Kill],
// [Cluster.Start], [Cluster.Disconnect], [Cluster.SetLatency], … and [Cluster.URLs] for clients.
//
// It is test support and must not be imported outside tests. It must not pull images (nothing here
// reaches a registry: both images are FROM scratch with a static binary), publish anything beyond
// 127.0.0.1, or let containers talk outside their own networks. It must leave nothing behind: every
// container, network and volume carries a random per-cluster prefix and is removed in the test's
// Cleanup (leftovers of a test process that died are reaped by the next [Start] on this host). A test
// that needs Docker fails when the environment variable CI is set and Docker is not usable, and is
// skipped otherwise ([Require]).
package dctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultAdminToken is the admin token (HAETAE_ADMIN_TOKEN) of every node unless [Options] sets one.
const DefaultAdminToken = "dctest-admin-token-0123456789abcdef"

// routePort is where each node listens for routes inside its container (--cluster-listen default).
const routePort = 6222

// Options configure [Start]. The zero value is a three-DC cluster with the defaults below.
type Options struct {
	// DCs is the number of data centers, one node each, named dc1, dc2, …; 3 to 9, default 3.
	DCs int
	// AdminToken is HAETAE_ADMIN_TOKEN on every node (default [DefaultAdminToken]).
	AdminToken string
	// Secret is the cluster secret, given as HAETAE_CLUSTER_SECRET (default: random per cluster).
	Secret string
	// Env adds HAETAE_* variables to every node, e.g. {"HAETAE_LOG_LEVEL": "debug"}. It configures
	// the node as the image's users would; the command stays the image's own.
	Env map[string]string
	// ReadyTimeout bounds [Start] and each [Cluster.WaitReady] (default 2 minutes).
	ReadyTimeout time.Duration
	// LogLines is how many lines of each container's log are printed when the test fails (default 200).
	LogLines int
}

// Cluster is a running cluster: one container per DC and one Toxiproxy. Its methods fail the test on
// error, so call them from the test's goroutine. DC i (from 0) is named dc{i+1}.
type Cluster struct {
	tb     testing.TB
	opts   Options
	run    string // the random prefix of every name
	labels []string
	images images

	wan   string
	nodes []*node
	toxi  *toxiproxy
}

type node struct {
	dc        string // dc1, dc2, …
	container string
	network   string
	volume    string
	port      int // on 127.0.0.1
}

// Start builds the images if this process has not yet, starts a cluster of opts.DCs nodes behind
// Toxiproxy, and waits until every node is ready (GET /readyz is 200). Everything is removed when the
// test ends; the containers' logs are printed first if it failed.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	Require(tb)
	if opts.DCs == 0 {
		opts.DCs = 3
	}
	if opts.DCs < 3 || opts.DCs > 9 {
		tb.Fatalf("dctest: %d DCs; want 3 to 9 (every stream has three replicas, one per DC)", opts.DCs)
	}
	if opts.AdminToken == "" {
		opts.AdminToken = DefaultAdminToken
	}
	if opts.Secret == "" {
		opts.Secret = "dctest-" + randomHex(16)
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	if opts.LogLines == 0 {
		opts.LogLines = 200
	}
	reapOnce.Do(func() { reap(tb) })
	c := &Cluster{tb: tb, opts: opts, run: "dctest-" + randomHex(4)}
	c.labels = []string{labelRun + "=" + c.run, labelPID + "=" + strconv.Itoa(os.Getpid()), labelHost + "=" + hostname()}
	c.images = mustImages(tb)
	tb.Cleanup(c.cleanup)
	start := time.Now()

	c.wan = c.run + "-wan"
	c.createNetwork(c.wan)
	c.toxi = c.startToxiproxy()
	for i := 0; i < opts.DCs; i++ {
		c.nodes = append(c.nodes, c.startNode(i))
	}
	c.WaitReady()
	tb.Logf("dctest: cluster %s of %d DCs ready in %s: %s", c.run, opts.DCs, time.Since(start).Round(time.Millisecond), strings.Join(c.URLs(), " "))
	return c
}

// Name is the cluster's random prefix: every container, network and volume of it starts with it.
func (c *Cluster) Name() string { return c.run }

// DCs is the number of data centers.
func (c *Cluster) DCs() int { return len(c.nodes) }

// DC names data center i: dc{i+1}.
func (c *Cluster) DC(i int) string { return c.node(i).dc }

// Container names the container of DC i, for docker commands of a test's own.
func (c *Cluster) Container(i int) string { return c.node(i).container }

// URL is the base URL of DC i's API as the host reaches it (http://127.0.0.1:PORT). It stays the same
// across [Cluster.Kill] and [Cluster.Start]. Each node also advertises it at GET /v1/endpoints.
func (c *Cluster) URL(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", c.node(i).port) }

// URLs are the base URLs of every DC's API, in DC order.
func (c *Cluster) URLs() []string {
	var out []string
	for i := range c.nodes {
		out = append(out, c.URL(i))
	}
	return out
}

// AdminToken is the nodes' admin token.
func (c *Cluster) AdminToken() string { return c.opts.AdminToken }

func (c *Cluster) node(i int) *node {
	if i < 0 || i >= len(c.nodes) {
		c.tb.Fatalf("dctest: no DC %d in a cluster of %d", i, len(c.nodes))
	}
	return c.nodes[i]
}

// Kill sends SIGKILL to DC i's node (docker kill), as a power cut would, and waits until the container
// has stopped. Its data volume stays; [Cluster.Start] brings the same node back.
func (c *Cluster) Kill(i int) {
	c.tb.Helper()
	n := c.node(i)
	c.mustDocker("kill", n.container)
	c.waitStopped(n)
}

// Stop stops DC i's node gracefully (docker stop: SIGTERM, then SIGKILL after 30 s) and waits for it.
func (c *Cluster) Stop(i int) {
	c.tb.Helper()
	n := c.node(i)
	c.mustDocker("stop", "--time", "30", n.container)
	c.waitStopped(n)
}

// Start starts DC i's stopped or killed container again: the same node, data volume, networks and API
// port. It does not wait for the node to be ready: see [Cluster.WaitReady].
func (c *Cluster) Start(i int) {
	c.tb.Helper()
	c.mustDocker("start", c.node(i).container)
}

// Disconnect takes DC i off the inter-DC network (docker network disconnect): its routes to the other
// DCs stop carrying anything, as when a DC's uplinks are cut, while its API stays reachable from the
// host. Nothing is reset: the node finds out by missing heartbeats.
func (c *Cluster) Disconnect(i int) {
	c.tb.Helper()
	c.mustDocker("network", "disconnect", c.wan, c.node(i).container)
}

// Reconnect puts DC i back on the inter-DC network, under its DC name.
func (c *Cluster) Reconnect(i int) {
	c.tb.Helper()
	n := c.node(i)
	c.mustDocker("network", "connect", "--alias", n.dc, c.wan, n.container)
}

// WaitReady waits until the nodes of the given DCs (all when none is given) answer GET /readyz with 200:
// reachable, with a majority of the cluster, current with the JetStream meta leader. A node whose
// container stopped fails the test at once, with its log.
func (c *Cluster) WaitReady(dcs ...int) {
	c.tb.Helper()
	if len(dcs) == 0 {
		for i := range c.nodes {
			dcs = append(dcs, i)
		}
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(c.opts.ReadyTimeout)
	for _, i := range dcs {
		n := c.node(i)
		for {
			status, err := getStatus(hc, c.URL(i)+"/readyz")
			if err == nil && status == http.StatusOK {
				break
			}
			if !c.running(n) {
				c.tb.Fatalf("dctest: %s stopped while waiting for it to be ready; its log:\n%s", n.dc, c.Logs(i))
			}
			if time.Now().After(deadline) {
				c.tb.Fatalf("dctest: %s not ready after %s (last: status %d, %v); its log:\n%s", n.dc, c.opts.ReadyTimeout, status, err, c.Logs(i))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func getStatus(hc *http.Client, url string) (int, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Logs returns the last lines (Options.LogLines) of DC i's container log, stdout and stderr, with
// Docker's timestamps.
func (c *Cluster) Logs(i int) string {
	return c.logs(c.node(i).container)
}

func (c *Cluster) logs(container string) string {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	// The container's stderr comes on docker's stderr: read both, interleaved as they come.
	out, err := exec.CommandContext(ctx, "docker", "logs", "--timestamps", "--tail", strconv.Itoa(c.opts.LogLines), container).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(docker logs %s: %v)\n%s", container, err, out)
	}
	return string(out)
}

func (c *Cluster) running(n *node) bool {
	out, err := docker(context.Background(), "inspect", "--format", "{{.State.Running}}", n.container)
	return err == nil && strings.TrimSpace(out) == "true"
}

func (c *Cluster) waitStopped(n *node) {
	c.tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for c.running(n) {
		if time.Now().After(deadline) {
			c.tb.Fatalf("dctest: %s still running a minute after it was stopped", n.dc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNode creates DC i's network, volume and container, joins it to the wan and starts it. Its API
// port is chosen here, so that a restart keeps it and the node can advertise it; if another process
// takes the port first, it tries another.
func (c *Cluster) startNode(i int) *node {
	c.tb.Helper()
	n := &node{dc: fmt.Sprintf("dc%d", i+1)}
	n.container = c.run + "-" + n.dc
	n.network = c.run + "-" + n.dc
	n.volume = c.run + "-" + n.dc + "-data"
	c.createNetwork(n.network)
	c.mustDocker(c.create([]string{"volume", "create"}, n.volume)...)
	var peers []string
	for j := 0; j < c.opts.DCs; j++ {
		if j != i {
			peers = append(peers, fmt.Sprintf("toxiproxy:%d", linkPort(i, j)))
		}
	}
	env := map[string]string{
		"HAETAE_DC":             n.dc,
		"HAETAE_PEERS":          strings.Join(peers, ","),
		"HAETAE_CLUSTER_SECRET": c.opts.Secret,
		"HAETAE_ADMIN_TOKEN":    c.opts.AdminToken,
		"HAETAE_NATS_LISTEN":    fmt.Sprintf("0.0.0.0:%d", natsPort),
	}
	for k, v := range c.opts.Env {
		env[k] = v
	}
	for try := 1; ; try++ {
		n.port = mustFreePort(c.tb)
		env["HAETAE_ADVERTISE_URL"] = fmt.Sprintf("http://127.0.0.1:%d", n.port)
		args := c.create([]string{"create"}, "--name", n.container, "--hostname", n.dc,
			"--network", n.network, "--publish", fmt.Sprintf("127.0.0.1:%d:8080", n.port),
			"--publish", fmt.Sprintf("127.0.0.1::%d", natsPort),
			"--volume", n.volume+":/data")
		for _, k := range sortedKeys(env) {
			args = append(args, "--env", k+"="+env[k])
		}
		c.mustDocker(append(args, c.images.haetae)...)
		c.mustDocker("network", "connect", "--alias", n.dc, c.wan, n.container)
		_, err := docker(context.Background(), "start", n.container)
		if err == nil {
			return n
		}
		if try >= 5 || !portTaken(err) {
			c.tb.Fatalf("dctest: start %s: %v", n.dc, err)
		}
		c.mustDocker("rm", "--force", n.container)
	}
}

// createNetwork creates a bridge network with the cluster's labels. Docker has address pools for about
// thirty networks; when clusters of other test processes hold them all, it waits for one to be freed,
// for up to two minutes.
func (c *Cluster) createNetwork(name string) {
	c.tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := docker(context.Background(), c.create([]string{"network", "create"}, "--driver", "bridge", name)...)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "address pool") || time.Now().After(deadline) {
			c.tb.Fatalf("dctest: %v", err)
		}
		time.Sleep(time.Second)
	}
}

// create is a docker create command (container, network or volume: what names the kind) with the
// cluster's labels, followed by args.
func (c *Cluster) create(what []string, args ...string) []string {
	out := append([]string(nil), what...)
	for _, l := range c.labels {
		out = append(out, "--label", l)
	}
	return append(out, args...)
}

// mustDocker runs docker with args and fails the test if it fails.
func (c *Cluster) mustDocker(args ...string) string {
	c.tb.Helper()
	out, err := docker(context.Background(), args...)
	if err != nil {
		c.tb.Fatalf("dctest: %v", err)
	}
	return out
}

// cleanup prints the logs of a failed test, then removes every container, network and volume of the
// cluster.
func (c *Cluster) cleanup() {
	if c.tb.Failed() {
		for i, n := range c.nodes {
			c.tb.Logf("dctest: log of %s (%s):\n%s", n.dc, n.container, c.Logs(i))
		}
		if c.toxi != nil {
			c.tb.Logf("dctest: log of toxiproxy:\n%s", c.logs(c.toxi.container))
		}
	}
	removeLabelled(labelRun + "=" + c.run)
}

var reapOnce sync.Once

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
