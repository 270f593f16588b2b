package dctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// toxiproxy is the cluster's Toxiproxy container: on the wan only, its admin API published on
// 127.0.0.1 for the test.
type toxiproxy struct {
	container string
	api       string // http://127.0.0.1:PORT
	hc        *http.Client
}

// A link proxy carries the routes that DC i dials to DC j: it listens on toxiproxy:linkPort(i, j) and
// forwards to dcJ:6222. DC i's --peers are its links to every other DC, so every route connection,
// whichever side dialled it, crosses Toxiproxy. (A route reached through Toxiproxy reports Toxiproxy's
// address as its peer's; what NATS would gossip from it leads to Toxiproxy too, never around it.)
func linkPort(i, j int) int { return 7000 + 10*(i+1) + (j + 1) }

// LinkProxy names the Toxiproxy proxy that carries the routes DC i dials to DC j ("dc1-dc2"), for
// tests that add toxics of their own through [Cluster.ToxiproxyURL].
func (c *Cluster) LinkProxy(i, j int) string {
	return c.node(i).dc + "-" + c.node(j).dc
}

// linkProxy is LinkProxy before the nodes exist.
func linkProxy(i, j int) string { return fmt.Sprintf("dc%d-dc%d", i+1, j+1) }

// ToxiproxyURL is the base URL of Toxiproxy's admin API on the host, for toxics beyond
// [Cluster.SetLatency] (see Toxiproxy's README: POST /proxies/{name}/toxics).
func (c *Cluster) ToxiproxyURL() string { return c.toxi.api }

func (c *Cluster) startToxiproxy() *toxiproxy {
	c.tb.Helper()
	t := &toxiproxy{container: c.run + "-toxiproxy", hc: &http.Client{Timeout: 10 * time.Second}}
	c.mustDocker(c.create([]string{"create"}, "--name", t.container, "--network", c.wan, "--network-alias", "toxiproxy",
		"--env", "LOG_LEVEL=info", "--publish", "127.0.0.1::8474", c.images.toxiproxy)...)
	c.mustDocker("start", t.container)
	port := strings.TrimSpace(c.mustDocker("port", t.container, "8474/tcp"))
	if i := strings.LastIndex(port, ":"); i >= 0 {
		port = port[i+1:]
	}
	t.api = "http://127.0.0.1:" + port
	deadline := time.Now().Add(30 * time.Second)
	for {
		if status, err := getStatus(t.hc, t.api+"/version"); err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("dctest: toxiproxy's API at %s did not answer within 30 s; its log:\n%s", t.api, c.logs(t.container))
		}
		time.Sleep(50 * time.Millisecond)
	}
	type proxy struct {
		Name     string `json:"name"`
		Listen   string `json:"listen"`
		Upstream string `json:"upstream"`
		Enabled  bool   `json:"enabled"`
	}
	var proxies []proxy
	for i := 0; i < c.opts.DCs; i++ {
		for j := 0; j < c.opts.DCs; j++ {
			if i != j {
				proxies = append(proxies, proxy{linkProxy(i, j), fmt.Sprintf("0.0.0.0:%d", linkPort(i, j)), fmt.Sprintf("dc%d:%d", j+1, routePort), true})
			}
		}
	}
	if err := t.call("POST", "/populate", proxies); err != nil {
		c.tb.Fatalf("dctest: create the link proxies: %v", err)
	}
	return t
}

// call sends one request to Toxiproxy's API; a status of 300 or more is an error with its body.
func (t *toxiproxy) call(method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, t.api+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.hc.Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return &toxiError{status: resp.StatusCode, msg: fmt.Sprintf("toxiproxy %s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))}
	}
	return nil
}

type toxiError struct {
	status int
	msg    string
}

func (e *toxiError) Error() string { return e.msg }

// The names of the latency toxics SetLatency keeps on every link, one per direction.
var latencyToxics = []struct{ name, stream string }{{"latency_up", "upstream"}, {"latency_down", "downstream"}}

// SetLatency delays every byte on every route link by d in each direction (a round trip between two
// DCs gains 2d), with Toxiproxy's latency toxic; 0 removes the delay. Toxiproxy counts in whole
// milliseconds, so d is rounded to one.
func (c *Cluster) SetLatency(d time.Duration) {
	c.tb.Helper()
	ms := d.Round(time.Millisecond).Milliseconds()
	for i := range c.nodes {
		for j := range c.nodes {
			if i == j {
				continue
			}
			p := "/proxies/" + c.LinkProxy(i, j) + "/toxics"
			for _, tx := range latencyToxics {
				if err := c.toxi.call("DELETE", p+"/"+tx.name, nil); err != nil {
					if te, ok := err.(*toxiError); !ok || te.status != http.StatusNotFound {
						c.tb.Fatalf("dctest: %v", err)
					}
				}
				if ms == 0 {
					continue
				}
				toxic := map[string]any{"name": tx.name, "type": "latency", "stream": tx.stream, "toxicity": 1.0,
					"attributes": map[string]any{"latency": ms, "jitter": 0}}
				if err := c.toxi.call("POST", p, toxic); err != nil {
					c.tb.Fatalf("dctest: %v", err)
				}
			}
		}
	}
}

// CutLink closes the route links between DC i and DC j, both ways, and refuses new ones until
// [Cluster.HealLink]: the two DCs lose each other while each still reaches the others. Unlike
// [Cluster.Disconnect] the connections are reset, so both sides notice at once.
func (c *Cluster) CutLink(i, j int) {
	c.tb.Helper()
	c.setLink(i, j, false)
}

// HealLink undoes [Cluster.CutLink]; the nodes redial on their own.
func (c *Cluster) HealLink(i, j int) {
	c.tb.Helper()
	c.setLink(i, j, true)
}

func (c *Cluster) setLink(i, j int, enabled bool) {
	c.tb.Helper()
	for _, p := range []string{c.LinkProxy(i, j), c.LinkProxy(j, i)} {
		if err := c.toxi.call("POST", "/proxies/"+p, map[string]bool{"enabled": enabled}); err != nil {
			c.tb.Fatalf("dctest: %v", err)
		}
	}
}
