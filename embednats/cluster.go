package embednats

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
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
// cluster, whether it has live routes to a majority of the servers. It is a fast local check, so a node
// cut off from the others refuses writes at once instead of letting each one wait for a time-out.
// JetStream itself never acknowledges a write a majority has not stored, whatever this says; this is
// about answering honestly and quickly.
//
// It deliberately does not ask for a JetStream meta leader: after the data center holding the meta
// leader is lost, the survivors elect a new one within seconds, and writes to streams whose leaders
// survived need no meta leader at all. Refusing them meanwhile would stall every room, not a third.
// [Server.Formed] is the stricter check for start-up.
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
	// Not Healthz: its readiness probe races a 1 ms timer against the server's start-up signal, and on a
	// loaded machine the timer can win long after start-up (seen: spurious no_quorum under -race).
	if !s.ns.Running() || !s.ns.JetStreamEnabled() {
		return errors.New("JetStream is not running")
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
	// The meta group's size counts every server JetStream knows of, reachable or not (the peer list may
	// name this server itself, so it is no count).
	size := jsz.Meta.Size
	reach := s.ReachablePeers() + 1
	need := size/2 + 1
	if reach < need {
		return fmt.Errorf("this node reaches %d of %d servers and needs %d for a majority", reach, size, need)
	}
	return nil
}

// Formed says whether the cluster has formed around this node: a majority reachable, a JetStream meta
// leader known and this node current with it. A node waits for this before it provisions or opens its
// streams at start-up.
func (s *Server) Formed() error {
	if err := s.quorum(); err != nil {
		return err
	}
	if !s.Clustered() {
		return nil
	}
	if s.MetaLeader() == "" {
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

// ServerNames names every server of the JetStream meta group, this one included, reachable or not,
// sorted. It is the stable list stream leaders are spread over: a lost server stays in it.
func (s *Server) ServerNames() []string {
	if !s.Clustered() {
		return []string{s.Name()}
	}
	jsz, err := s.ns.Jsz(&server.JSzOptions{})
	if err != nil || jsz.Meta == nil {
		return []string{s.Name()}
	}
	seen := map[string]bool{s.Name(): true}
	if jsz.Meta.Leader != "" {
		seen[jsz.Meta.Leader] = true
	}
	for _, r := range jsz.Meta.Replicas {
		if r != nil && r.Name != "" {
			seen[r.Name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
