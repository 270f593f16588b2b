// Package node assembles one Haetae node: the embedded NATS server, the JetStream-backed services and the
// HTTP API, wired by explicit fields. Tests build a Node with DataDir = t.TempDir() and Listen ":0" and
// run it in-process; `haetae serve` runs the same Node. It holds no logic of its own beyond start-up and
// an orderly shutdown.
package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/admission"
	"github.com/haetae/haetae/embednats"
	"github.com/haetae/haetae/httpapi"
	"github.com/haetae/haetae/jsstore"
	"github.com/haetae/haetae/status"
	"github.com/haetae/haetae/webapp"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config is everything a node is started with.
type Config struct {
	// DataDir holds JetStream's files and the generated admin token.
	DataDir string
	// Listen is the API's address; ":0" picks a free port.
	Listen string
	// AdminToken, when set, is the admin credential; else one is generated on first start and kept in
	// DataDir/admin-token (mode 0600).
	AdminToken string
	// NATSListen, when set, also opens a NATS client port for tools.
	NATSListen string
	// MaxStore caps JetStream's disk use in bytes (0: no cap).
	MaxStore int64
	// LazySync trades durability for speed: see [embednats.Config.LazySync].
	LazySync bool
	// MaxLiveConns bounds the WebSocket connections of this node (0: the API's default).
	MaxLiveConns int
	// RedeemRate is the gift redemption attempts per second each merchant may make on this node
	// (0: the API's default).
	RedeemRate float64
	// ShutdownTimeout bounds the graceful drain on SIGTERM.
	ShutdownTimeout time.Duration
	// StartTimeout bounds how long Open waits for JetStream and, in a cluster, for a majority of the
	// data centers to be reachable.
	StartTimeout time.Duration
	// Cluster, when set, makes the node one member of a cluster stretched over data centers.
	Cluster *ClusterConfig
	// AdvertiseURL is the base URL clients should use to reach this node's API; other nodes list it at
	// GET /v1/endpoints. Default: derived from the listening address.
	AdvertiseURL string
	// TLSCertFile and TLSKeyFile, when both set, make the API serve HTTPS.
	TLSCertFile, TLSKeyFile string
	Store                   jsstore.Config
	Logger                  *slog.Logger
	// Admission shapes the API's load shedding: the adaptive concurrency limit and the queue of each
	// priority class; Admission.Disabled turns it off (for comparisons only).
	Admission admission.Config
	// TokenRate holds each bearer token, and AddrRate each address on the routes that take no token, to
	// a rate of its own; past it the API answers 429 rate_limited.
	TokenRate, AddrRate RateLimit
	// Shedding, when set, says which priority classes this node sheds now and at what rate; the
	// incident detectors report it. Nil: the API's limiter's ([httpapi.Server.Shedding]).
	Shedding func() (classes []string, perSecond float64)
	// StatusGrace is how long after start the detectors judge no data center lost: the others may
	// still be starting (0: status.DefaultGrace, 10 s). Tests of detectors shorten it.
	StatusGrace time.Duration

	// Rentals are the fare rules and the closer's settings; the node wires their downtime.
	Rentals jsstore.RentalConfig
}

// RateLimit is one client's allowance: PerSecond requests on average (0: no limit) and Burst at once.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// rateLimitKeys bounds the clients a node's rate limiter remembers at once.
const rateLimitKeys = 100000

// DefaultConfig is what `haetae serve` runs with no flags.
func DefaultConfig() Config {
	return Config{
		DataDir:         "haetae-data",
		Listen:          "127.0.0.1:8080",
		ShutdownTimeout: 15 * time.Second,
		StartTimeout:    2 * time.Minute,
		Store:           jsstore.DefaultConfig(),
		Rentals:         jsstore.DefaultRentalConfig(),
		Logger:          slog.Default(),
		Admission:       admission.DefaultConfig(),
		TokenRate:       RateLimit{PerSecond: 200, Burst: 400},
		AddrRate:        RateLimit{PerSecond: 100, Burst: 400},
	}
}

// Node is one running Haetae node. Its parts are exported so tests and commands can reach them.
type Node struct {
	Config         Config
	NATS           *embednats.Server
	Store          *jsstore.Store
	API            *httpapi.Server
	HTTP           *http.Server
	Registry       *prometheus.Registry
	AdminTokenPath string
	// Incidents is this node's view of the incident history, with its detectors; Webhooks sends the
	// changes it writes to subscribers.
	Incidents *status.Service
	Webhooks  *status.Notifier

	// Rentals is the rental service; Downtime what its billing excludes (see Open).
	Rentals  *jsstore.RentalService
	Downtime haetae.DowntimeSource

	nc      *nats.Conn
	lock    *os.File
	dir     *directory
	stale   *staleness
	leaders *leaders
	quorumW *quorumWatch

	closeOnce sync.Once
	closeErr  error
	ln        net.Listener
	served    chan error
	started   bool
}

// New returns a node that Open will start.
func New(cfg Config) *Node { return &Node{Config: cfg} }

// Open starts the parts in order (NATS, the store, the API listener) and begins serving. On error,
// whatever was started is stopped again.
func (n *Node) Open(ctx context.Context) (err error) {
	cfg := &n.Config
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Store.Logger = cfg.Logger
	if err := cfg.Store.Validate(); err != nil {
		return err
	}
	if err := cfg.Admission.Validate(); err != nil {
		return err
	}
	if err := cfg.Rentals.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	if n.lock, err = lockDataDir(cfg.DataDir); err != nil {
		return err
	}
	if cfg.AdminToken == "" {
		if cfg.AdminToken, n.AdminTokenPath, err = adminToken(cfg.DataDir); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(cfg.StartTimeout)
	ncfg := embednats.Config{
		DataDir:      cfg.DataDir,
		ServerName:   "haetae",
		ClientListen: cfg.NATSListen,
		LazySync:     cfg.LazySync,
		MaxStore:     cfg.MaxStore,
		MaxBatchSize: cfg.Store.NeededBatchSize(),
		StartTimeout: cfg.StartTimeout,
		Logf:         func(f string, a ...any) { cfg.Logger.Debug(fmt.Sprintf(f, a...)) },
		Warnf:        func(f string, a ...any) { cfg.Logger.Warn(fmt.Sprintf(f, a...)) },
	}
	storeCfg := cfg.Store
	nodeName, dc := "haetae", ""
	if c := cfg.Cluster; c != nil {
		if ncfg.Cluster, err = c.embed(); err != nil {
			return err
		}
		nodeName, dc = c.NodeName, c.DC
		if nodeName == "" {
			nodeName = c.DC
		}
		ncfg.ServerName = nodeName
		clusterStore(&storeCfg)
	}
	storeCfg.DC, storeCfg.NodeName = dc, nodeName
	storeCfg.Quorum = func() error { return n.NATS.Quorum() } // n.NATS is set below, before the store opens
	n.NATS, err = embednats.Start(ncfg)
	if err != nil {
		return err
	}
	n.nc, err = n.NATS.Connect("haetae")
	if err != nil {
		return err
	}
	if cfg.Cluster != nil {
		if err := n.waitQuorum(ctx, deadline); err != nil {
			return err
		}
	}
	n.Registry = prometheus.NewRegistry()
	n.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerStoreMetrics(n.Registry, &storeCfg)
	n.Store, err = n.openStore(ctx, storeCfg, deadline)
	if err != nil {
		return err
	}
	n.API = &httpapi.Server{
		Users:        n.Store.Users,
		Rooms:        n.Store.Rooms,
		Messages:     n.Store.Messages,
		Live:         n.Store.Live,
		Gifts:        n.Store.Gifts,
		RedeemRate:   cfg.RedeemRate,
		Limits:       cfg.Store.Limits,
		Logger:       cfg.Logger,
		Ready:        n.NATS.Quorum,
		MaxLiveConns: cfg.MaxLiveConns,
		Registry:     n.Registry,
		AdminToken:   cfg.AdminToken,
		App:          webapp.Handler("/app/"),
		Admission:    admission.New(cfg.Admission),
		TokenRate:    admission.NewRateLimiter(cfg.TokenRate.PerSecond, cfg.TokenRate.Burst, rateLimitKeys, nil),
		AddrRate:     admission.NewRateLimiter(cfg.AddrRate.PerSecond, cfg.AddrRate.Burst, rateLimitKeys, nil),
	}
	n.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	self := haetae.Endpoint{URL: cfg.AdvertiseURL, DC: dc, Node: nodeName}
	if self.URL == "" {
		self.URL = n.scheme() + "://" + advertiseAddr(n.ln.Addr().(*net.TCPAddr))
	}
	if n.dir, err = startDirectory(n.nc, self, n.NATS.Quorum); err != nil {
		return err
	}
	n.API.Endpoints = n.dir.list
	if cfg.Cluster != nil {
		registerLeaderMetrics(n.Registry, n.Store.Streams(), n.NATS.IsStreamLeader)
		n.stale = startStaleness(n.Store.Streams, n.NATS.IsStreamLeader, n.NATS.IsStreamCurrent, n.NATS.Quorum)
		n.API.Staleness = n.stale.bound
		n.leaders = startLeaders(&leaders{
			nc:       n.nc,
			self:     n.NATS.Name(),
			names:    n.NATS.ServerNames,
			streams:  n.Store.Streams,
			isLeader: n.NATS.IsStreamLeader,
			current:  n.NATS.IsStreamCurrent,
			quorum:   n.NATS.Quorum,
			logf:     cfg.Logger.Info,
		})
	}
	n.API.Drain = n.Drain
	n.openIncidents(nodeName, dc)
	n.API.Incidents = n.Incidents
	// Rental billing excludes the platform's downtime: the incidents of major or critical impact that
	// name the rentals component, and the periods in which a node had no quorum (every node's, from
	// the replicated outage record, and this node's own not written yet, the one under way included).
	n.quorumW = startQuorumWatch(&quorumWatch{log: n.Store.Outages, quorum: n.NATS.Quorum, now: storeCfg.Now,
		node: nodeName, dc: dc, logger: cfg.Logger})
	n.Downtime = haetae.Downtimes{n.quorumW, haetae.IncidentDowntime{Incidents: n.Incidents, Now: storeCfg.Now}}
	rentalsCfg := cfg.Rentals
	rentalsCfg.Downtime = n.Downtime
	if n.Rentals, err = jsstore.NewRentals(n.Store, rentalsCfg); err != nil {
		return err
	}
	n.API.Rentals = n.Rentals
	n.HTTP = &http.Server{
		Handler:           n.API.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ConnContext:       httpapi.ConnContext,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	n.served = make(chan error, 1)
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
			return errors.New("HTTPS needs both --tls-cert and --tls-key")
		}
		go func() { n.served <- n.HTTP.ServeTLS(n.ln, cfg.TLSCertFile, cfg.TLSKeyFile) }()
	} else {
		go func() { n.served <- n.HTTP.Serve(n.ln) }()
	}
	n.started = true
	return nil
}

// openIncidents wires the incident history: the detectors that watch this node and the cluster, the
// service that turns what they see into incidents in the replicated history (or in its journal while
// the node is cut off), and the webhook notifier.
func (n *Node) openIncidents(nodeName, dc string) {
	cfg := &n.Config
	comps := haetae.DefaultComponents
	n.Webhooks = &status.Notifier{Logger: cfg.Logger}
	registerWebhookMetrics(n.Registry, n.Webhooks)
	var dcw *status.DCWatch
	if cfg.Cluster != nil {
		dcw = &status.DCWatch{
			Node: nodeName, DC: dc,
			Endpoints:  n.dir.list,
			Routes:     n.NATS.Peers,
			Servers:    n.NATS.ServerNames,
			Quorum:     n.NATS.Quorum,
			Components: comps,
			Start:      time.Now(),
			Grace:      cmp.Or(cfg.StatusGrace, status.DefaultGrace),
			After:      status.DefaultUnreachableAfter,
		}
	}
	shedding := cfg.Shedding
	if shedding == nil {
		shedding = n.API.Shedding // the load shedder's figures open the "load being shed" incident
	}
	streams := &status.StreamWatch{Node: nodeName, DC: dc, Health: streamHealth(n.NATS), After: status.DefaultStreamAfter}
	detectors := []status.Detector{
		streams,
		&status.DiskWatch{Node: nodeName, DC: dc, Usage: n.NATS.StoreUsage, Free: func() (uint64, uint64, error) { return diskFree(cfg.DataDir) },
			StoreRatio: 0.9, MinFree: 512 << 20},
		&status.ShedWatch{Node: nodeName, DC: dc, Components: comps, Shedding: shedding},
	}
	scfg := status.Config{
		Node: nodeName, DC: dc, Components: comps,
		Store:       n.Store.Incidents,
		Quorum:      n.NATS.Quorum,
		JournalPath: filepath.Join(cfg.DataDir, "incidents-local.json"),
		Notify:      n.Webhooks.Notify,
		Logger:      cfg.Logger,
	}
	if dcw != nil {
		detectors = append([]status.Detector{dcw}, detectors...)
		streams.Excused = dcw.Unreachable
		scfg.DCs, scfg.Lost = dcw.States, dcw.Unreachable
	}
	scfg.Detectors = detectors
	n.Incidents = status.New(scfg)
	n.Webhooks.Subscribers = n.Incidents.Subscribers
	registerIncidentMetrics(n.Registry, n.Incidents)
	n.Webhooks.Start()
	n.Incidents.Start()
}

// URL is the API's base URL.
func (n *Node) URL() string { return n.scheme() + "://" + n.ln.Addr().String() }

func (n *Node) scheme() string {
	if n.Config.TLSCertFile != "" {
		return "https"
	}
	return "http"
}

// Addr is the API's listening address.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Run opens the node, serves until ctx is done, then shuts down gracefully.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Open(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-n.served:
		n.Close(context.Background())
		return fmt.Errorf("http server stopped: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), n.Config.ShutdownTimeout)
	defer cancel()
	return n.Close(sctx)
}

// Close shuts down in the reverse order of Open: refuse new work and tell live clients to go elsewhere,
// finish in-flight requests (bounded by ctx), stop the batchers, then stop NATS, which flushes JetStream.
// It may be called more than once and from several goroutines; all return when the first is done.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() { n.closeErr = n.close(ctx) })
	return n.closeErr
}

// Drain evacuates the node without stopping it: every stream leader it holds is handed to another data
// center (a planned hand-off stalls writes for milliseconds, a lost leader for seconds), /readyz fails so
// load balancers look elsewhere, and live WebSockets are told to resume on another node. Requests keep
// being served: writes reach the new leaders through JetStream. It returns the streams handed off.
// SIGTERM drains before it stops; `haetae drain` drains a node ahead of a planned shutdown.
func (n *Node) Drain(ctx context.Context) ([]string, error) {
	var moved []string
	var err error
	if n.leaders != nil {
		moved, err = n.leaders.handOff(ctx)
	}
	if n.API != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n.API.DrainLive(dctx)
		cancel()
	}
	return moved, err
}

func (n *Node) close(ctx context.Context) error {
	var errs []error
	if n.leaders != nil {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		moved, err := n.leaders.handOff(hctx)
		cancel()
		n.Config.Logger.Info("handed off stream leaders", "streams", moved)
		if err != nil {
			n.Config.Logger.Warn("stream leader hand-off incomplete; JetStream steps down the rest as it stops", "err", err)
		}
		n.leaders.close()
	}
	if n.API != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n.API.DrainLive(dctx)
		cancel()
	}
	if n.HTTP != nil && n.started {
		if err := n.HTTP.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			n.HTTP.Close()
		}
	} else if n.ln != nil {
		n.ln.Close()
	}
	if n.Rentals != nil {
		n.Rentals.Close()
	}
	if n.quorumW != nil {
		n.quorumW.close()
	}
	if n.Incidents != nil {
		n.Incidents.Close()
	}
	if n.Webhooks != nil {
		n.Webhooks.Close()
	}
	if n.stale != nil {
		n.stale.close()
	}
	if n.dir != nil {
		n.dir.close()
	}
	if n.Store != nil {
		n.Store.Close()
	}
	if n.nc != nil {
		n.nc.Close()
	}
	if n.NATS != nil {
		n.NATS.Shutdown()
	}
	if n.lock != nil {
		n.lock.Close() // releases the flock
		n.lock = nil
	}
	return errors.Join(errs...)
}

// adminToken reads DataDir/admin-token, creating it with a fresh random token on first start.
func adminToken(dir string) (string, string, error) {
	path := filepath.Join(dir, "admin-token")
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, path, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	t := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("write admin token: %w", err)
	}
	return t, path, nil
}

// advertiseAddr is the address other nodes list for this one when no --advertise-url says otherwise: the
// listening address, or, when that is every interface (0.0.0.0, ::), the host's name, which is at least
// resolvable on the hosts' own network (a Docker network, a LAN).
func advertiseAddr(a *net.TCPAddr) string {
	if a.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			return net.JoinHostPort(h, strconv.Itoa(a.Port))
		}
	}
	return a.String()
}
