// Package embednats runs the NATS server with JetStream inside the haetae process. It owns the server's
// options (store directory, fsync policy, limits) and hands out in-process client connections; it knows
// nothing of rooms or messages. The cluster mode of the multi-DC deployment is configured here too.
package embednats

import (
	"errors"
	"fmt"
	"path/filepath"
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
	// Logf, when set, receives the server's notices and errors.
	Logf func(format string, args ...any)
}

// Server is a running embedded NATS server.
type Server struct {
	cfg Config
	ns  *server.Server
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
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure nats server: %w", err)
	}
	if cfg.Logf != nil {
		ns.SetLoggerV2(logger{cfg.Logf}, false, false, false)
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

type logger struct{ logf func(string, ...any) }

func (l logger) Noticef(format string, v ...any) { l.logf("nats: "+format, v...) }
func (l logger) Warnf(format string, v ...any)   { l.logf("nats warning: "+format, v...) }
func (l logger) Fatalf(format string, v ...any)  { l.logf("nats fatal: "+format, v...) }
func (l logger) Errorf(format string, v ...any)  { l.logf("nats error: "+format, v...) }
func (l logger) Debugf(format string, v ...any)  {}
func (l logger) Tracef(format string, v ...any)  {}
