package dctest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsPort is the NATS client port each node opens inside its container (--nats-listen), published on
// 127.0.0.1 so that a test can ask JetStream itself what it did: which node leads which stream, what a
// stream holds. Haetae does not use it; it connects in-process.
const natsPort = 4222

// NATSURL is the URL of DC i's NATS client port on the host (nats://127.0.0.1:PORT), for tests that
// inspect JetStream with nats.go. Docker picks the port anew when the container starts, so ask again
// after [Cluster.Start]. It fails the test if the container is not running.
func (c *Cluster) NATSURL(i int) string {
	c.tb.Helper()
	url, err := c.natsURL(i)
	if err != nil {
		c.tb.Fatalf("dctest: %v", err)
	}
	return url
}

func (c *Cluster) natsURL(i int) (string, error) {
	out, err := docker(context.Background(), "port", c.node(i).container, fmt.Sprintf("%d/tcp", natsPort))
	if err != nil {
		return "", err
	}
	hostPort := strings.TrimSpace(strings.Split(out, "\n")[0])
	if hostPort == "" {
		return "", fmt.Errorf("%s publishes no NATS port (is it running?)", c.node(i).dc)
	}
	return "nats://" + hostPort, nil
}

// JetStream connects to the first DC whose NATS port answers and returns a JetStream handle on it; the
// test closes the connection when done with it. It returns an error rather than failing the test, for
// use in polling loops while a DC is down.
func (c *Cluster) JetStream() (jetstream.JetStream, *nats.Conn, error) {
	var errs []error
	for i := range c.nodes {
		url, err := c.natsURL(i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.MaxReconnects(0), nats.Name("dctest"))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.node(i).dc, err))
			continue
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		return js, nc, nil
	}
	return nil, nil, fmt.Errorf("dctest: no DC's NATS port answers: %w", errors.Join(errs...))
}

// StreamLeaders returns the leader of every stream, by stream name: the node name, which is the DC's
// name ("dc2"); "" for a stream without a leader now. Listing streams goes through JetStream's meta
// leader, so it fails while there is none.
func (c *Cluster) StreamLeaders() (map[string]string, error) {
	js, nc, err := c.JetStream()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := map[string]string{}
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		leader := ""
		if info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		out[info.Config.Name] = leader
	}
	if err := streams.Err(); err != nil {
		return nil, fmt.Errorf("dctest: list streams: %w", err)
	}
	return out, nil
}
