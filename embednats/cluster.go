package embednats

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// Account is the NATS account haetae's streams live in: the global account of a server with no accounts.
const Account = "$G"

func clusterOptions(opts *server.Options, c *Cluster) error {
	host, port, err := splitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("--cluster-listen %q: %w", c.Listen, err)
	}
	opts.Cluster = server.ClusterOpts{
		Name:     c.Name,
		Host:     host,
		Port:     port,
		Username: c.User,
		Password: c.Secret,
		// Routes cross a WAN: detect a dead link in seconds, not the default two minutes, so a node
		// learns it is cut off (and refuses writes) quickly.
		PingInterval:   time.Second,
		MaxPingsOut:    3,
		Advertise:      c.Advertise,
		ConnectBackoff: true,
		// No gossip of routes learned from others: the configured peers are the cluster, which keeps a
		// partition from being bridged by a route the operator did not configure.
		NoAdvertise: true,
	}
	if c.TLS != nil {
		opts.Cluster.TLSConfig = c.TLS
		opts.Cluster.TLSTimeout = 5
	}
	for _, p := range c.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			return fmt.Errorf("--peers %q: %w", p, err)
		}
		opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats-route", User: url.UserPassword(c.User, c.Secret), Host: p})
	}
	opts.Tags = jwt.TagList{"dc:" + c.DC}
	opts.JetStreamUniqueTag = "dc:"
	return nil
}

// Clustered reports whether this server is one member of a cluster.
func (s *Server) Clustered() bool { return s.cfg.Cluster != nil }

// Name is the server's name in the cluster.
func (s *Server) Name() string { return s.ns.Name() }

// quorumCache keeps the last answer of Quorum for a short while: it is asked on every write request.
type quorumCache struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

const quorumCacheFor = 200 * time.Millisecond

// Quorum says whether this node can take writes now: on a single node, whether JetStream is up; in a
// cluster, whether it is connected to a majority of the servers and follows a JetStream meta leader.
// It is a fast local check, so a node cut off from the others refuses writes at once instead of
// letting each one wait for a time-out. JetStream itself never acknowledges a write a majority has not
// stored, whatever this says; this is about answering honestly and quickly.
func (s *Server) Quorum() error {
	s.qc.mu.Lock()
	defer s.qc.mu.Unlock()
	if time.Since(s.qc.at) < quorumCacheFor {
		return s.qc.err
	}
	s.qc.err = s.quorum()
	s.qc.at = time.Now()
	return s.qc.err
}

func (s *Server) quorum() error {
	if err := s.Healthy(); err != nil && !s.Clustered() {
		return err
	}
	if !s.Clustered() {
		return nil
	}
	jsz, err := s.ns.Jsz(&server.JSzOptions{})
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if jsz.Meta == nil {
		return errors.New("the JetStream cluster has not formed yet")
	}
	reach := s.ReachablePeers() + 1
	need := jsz.Meta.Size/2 + 1
	if reach < need {
		return fmt.Errorf("this node reaches %d of %d servers and needs %d for a majority", reach, jsz.Meta.Size, need)
	}
	if jsz.Meta.Leader == "" {
		return errors.New("no JetStream meta leader is known: an election is under way or a majority is unreachable")
	}
	if !s.ns.JetStreamIsCurrent() {
		return errors.New("this node is not current with the JetStream meta leader")
	}
	return nil
}

// ReachablePeers counts the other servers this one has a live route to.
func (s *Server) ReachablePeers() int {
	rz, err := s.ns.Routez(&server.RoutezOptions{})
	if err != nil {
		return 0
	}
	seen := map[string]bool{}
	for _, r := range rz.Routes {
		seen[r.RemoteID] = true
	}
	return len(seen)
}

// Peers names the other servers this one has a live route to.
func (s *Server) Peers() []string {
	rz, err := s.ns.Routez(&server.RoutezOptions{})
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range rz.Routes {
		if !seen[r.RemoteName] {
			seen[r.RemoteName] = true
			out = append(out, r.RemoteName)
		}
	}
	return out
}

// IsStreamLeader reports whether this server leads the named stream's RAFT group. On a single node it
// is always true.
func (s *Server) IsStreamLeader(stream string) bool {
	if !s.Clustered() {
		return true
	}
	return s.ns.JetStreamIsStreamLeader(Account, stream)
}

// IsStreamCurrent reports whether this server's replica of the stream has applied everything its
// leader has committed, as of the leader's last heartbeat. A read served from a current replica is
// at most one heartbeat (about a second) behind.
func (s *Server) IsStreamCurrent(stream string) bool {
	return s.ns.JetStreamIsStreamCurrent(Account, stream)
}

// MetaLeader names the server leading JetStream's meta group ("" when none is known).
func (s *Server) MetaLeader() string {
	jsz, err := s.ns.Jsz(&server.JSzOptions{})
	if err != nil || jsz.Meta == nil {
		return ""
	}
	return jsz.Meta.Leader
}
