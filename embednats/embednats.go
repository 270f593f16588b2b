// Package embednats runs the NATS server with JetStream inside the haetae process. It owns the server's
// options (store directory, fsync policy, limits) and hands out in-process client connections; it knows
// nothing of rooms or messages. The cluster mode of the multi-DC deployment is configured here too.
package embednats

import (
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config says how to run the embedded server.
type Config struct {
	// DataDir holds JetStream's files (in DataDir/jetstream).
	DataDir string
	// ServerName names this server in the cluster; it must be unique there.
	ServerName string
	// ClientListen, when set ("127.0.0.1:4222"), also opens a NATS client port for tools; haetae itself
	// always connects in-process.
	ClientListen string
	// LazySync turns off fsync before acknowledgement. It is an explicit opt-in: with it, a power loss can
	// lose writes that clients saw acknowledged (Jepsen, NATS 2.12.1).
	LazySync bool
	// MaxStore caps the disk JetStream may use, in bytes; 0 is no cap. Past it, writes are refused and
	// the API answers 503.
	MaxStore int64
	// MaxBatchSize caps the messages of one atomic batch; 0 is the server's default.
	MaxBatchSize int
	// StartTimeout bounds how long Start waits for the server and JetStream to be ready.
	StartTimeout time.Duration
	// Cluster, when set, makes this server one member of a NATS cluster stretched over data centers.
	Cluster *Cluster
	// Logf, when set, receives the server's notices; Warnf its warnings and errors, which an operator
	// must see (a refused route, a lost peer).
	Logf  func(format string, args ...any)
	Warnf func(format string, args ...any)
}

// Cluster places the server in a cluster: one server per data center, routes between them, JetStream
// replicas spread by the server's "dc:" tag so no two replicas of a stream share a data center.
type Cluster struct {
	// Name of the cluster; every member must use the same.
	Name string
	// DC names this server's data center; it becomes the tag "dc:<DC>".
	DC string
	// Listen is the route address ("0.0.0.0:6222").
	Listen string
	// Advertise, when set, is the route address the other servers should dial (behind NAT or a proxy).
	Advertise string
	// Peers are the route addresses of the other members, "host:port". Listing this server itself is
	// harmless: NATS recognises and drops a route to itself.
	Peers []string
	// User and Secret authenticate routes: a server that presents another secret is refused, and both
	// sides log why. There is no default: a cluster without a secret does not start.
	User, Secret string
	// TLS, when set, encrypts and authenticates routes with certificates (both sides verify).
	TLS *tls.Config
}

func (c *Cluster) validate() error {
	switch {
	case c.Name == "":
		return errors.New("cluster name is empty")
	case c.DC == "":
		return errors.New("--dc is empty")
	case strings.ContainsAny(c.DC, " ,:\t"):
		return fmt.Errorf("--dc %q may not hold spaces, commas or colons", c.DC)
	case c.User == "" || len(c.Secret) < 16:
		return errors.New("a cluster needs a secret of at least 16 characters (--cluster-secret-file or HAETAE_CLUSTER_SECRET); there is no default")
	case len(c.Peers) == 0:
		return errors.New("a cluster needs --peers, the route addresses of the other data centers")
	}
	return nil
}

// Server is a running embedded NATS server.
type Server struct {
	cfg Config
	ns  *server.Server
	qc  quorumCache
}

// Start runs the server and waits until JetStream answers health checks, not merely until the listeners
// are up: ReadyForConnections says nothing about JetStream.
func Start(cfg Config) (*Server, error) {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir, "jetstream"),
		SyncAlways:         !cfg.LazySync,
		DontListen:         cfg.ClientListen == "",
		NoSigs:             true,
		MaxPayload:         2 << 20, // above the largest request body haetae accepts (1 MiB)
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  -1,
	}
	if cfg.MaxStore > 0 {
		opts.JetStreamMaxStore = cfg.MaxStore
	}
	if cfg.MaxBatchSize > 0 {
		opts.JetStreamLimits.MaxBatchSize = cfg.MaxBatchSize
	}
	if cfg.ClientListen != "" {
		host, port, err := splitHostPort(cfg.ClientListen)
		if err != nil {
			return nil, fmt.Errorf("nats client listen address: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if c := cfg.Cluster; c != nil {
		if err := c.validate(); err != nil {
			return nil, err
		}
		if err := clusterOptions(opts, c); err != nil {
			return nil, err
		}
		if cfg.ClientListen == "" {
			// nats-server starts routing only once its client accept loop is up, so a clustered
			// server needs a client port: a random one on loopback, which nothing outside can reach.
			opts.DontListen = false
			opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure nats server: %w", err)
	}
	if cfg.Logf != nil || cfg.Warnf != nil {
		l := logger{notice: cfg.Logf, warn: cfg.Warnf}
		if l.notice == nil {
			l.notice = func(string, ...any) {}
		}
		if l.warn == nil {
			l.warn = l.notice
		}
		ns.SetLoggerV2(l, false, false, false)
	}
	ns.Start()
	s := &Server{cfg: cfg, ns: ns}
	if err := s.waitReady(cfg.StartTimeout); err != nil {
		ns.Shutdown()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if !s.ns.ReadyForConnections(timeout) {
		return errors.New("nats server did not start listening in time")
	}
	for {
		hs := s.ns.Healthz(&server.HealthzOptions{JSEnabledOnly: true})
		if hs.Error == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jetstream not ready: %s", hs.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Connect opens an in-process client connection. name labels it in the server's monitoring.
func (s *Server) Connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(s.ns), nats.Name(name), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// Healthy reports whether JetStream on this server is up and current, with the reason when not.
func (s *Server) Healthy() error {
	hs := s.ns.Healthz(&server.HealthzOptions{})
	if hs.Error != "" {
		return errors.New(hs.Error)
	}
	return nil
}

// Shutdown stops the server; JetStream flushes and closes its files.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// ClientURL is the NATS URL of the client port, or "" when none was opened.
func (s *Server) ClientURL() string {
	if s.cfg.ClientListen == "" {
		return ""
	}
	return s.ns.ClientURL()
}

type logger struct{ notice, warn func(string, ...any) }

func (l logger) Noticef(format string, v ...any) { l.notice("nats: "+format, v...) }
func (l logger) Warnf(format string, v ...any)   { l.warn("nats warning: "+format, v...) }
func (l logger) Fatalf(format string, v ...any)  { l.warn("nats fatal: "+format, v...) }
func (l logger) Errorf(format string, v ...any)  { l.warn("nats error: "+format, v...) }
func (l logger) Debugf(format string, v ...any)  {}
func (l logger) Tracef(format string, v ...any)  {}
