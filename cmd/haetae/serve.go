package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/haetae/haetae/admission"
	"github.com/haetae/haetae/node"
	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffcli"
)

func serveCommand(env *Env) *ffcli.Command {
	cfg := node.DefaultConfig()
	fs := flag.NewFlagSet("haetae serve", flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "`dir`ectory for the node's data (JetStream files, admin token)")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "`address` of the HTTP/WebSocket API")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "", "also open a NATS client port at this `address`, for tools (default: none)")
	fs.BoolVar(&cfg.LazySync, "lazy-sync", false, "UNSAFE: acknowledge writes before they are fsynced; a power loss can lose acknowledged messages")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long SIGTERM waits for in-flight requests")
	fs.Int64Var(&cfg.MaxStore, "max-store", 0, "most `bytes` of disk JetStream may use; past it writes get 503 (default: no cap)")
	fs.IntVar(&cfg.Store.Shards, "shards", cfg.Store.Shards, "message streams new rooms are spread over")
	fs.DurationVar(&cfg.Store.DedupeWindow, "dedupe-window", cfg.Store.DedupeWindow, "how long a message's client_id is remembered for idempotent retries")
	fs.DurationVar(&cfg.Store.SessionTTL, "session-ttl", cfg.Store.SessionTTL, "how long a login token is valid")
	fs.DurationVar(&cfg.Store.GiftTTL, "gift-ttl", cfg.Store.GiftTTL, "how long a gift may be redeemed after it is sent (2160h is 90 days); gifts are kept 30 days longer")
	fs.Float64Var(&cfg.RedeemRate, "redeem-rate", 20, "gift redemption attempts per second each merchant may make on this node (burst: twice that); more get 429")
	fs.IntVar(&cfg.Store.BatchMax, "batch-max", cfg.Store.BatchMax, "most messages committed with one fsync (group commit)")
	fs.IntVar(&cfg.Store.Limits.TextMax, "max-text", cfg.Store.Limits.TextMax, "most characters of a message")
	fs.Int64Var(&cfg.Store.Limits.BodyMax, "max-body", cfg.Store.Limits.BodyMax, "most bytes of a request body")
	fs.IntVar(&cfg.Store.Limits.MembersMax, "max-members", cfg.Store.Limits.MembersMax, "most members of a room")
	fs.IntVar(&cfg.Store.Limits.RoomsMax, "max-rooms", cfg.Store.Limits.RoomsMax, "most rooms a user may be a member of")
	fs.IntVar(&cfg.Store.LiveBuffer, "live-buffer", cfg.Store.LiveBuffer, "messages a live subscription may lag before it is told to resume from its cursor")
	fs.IntVar(&cfg.MaxLiveConns, "max-live-conns", 20000, "most WebSocket connections this node holds")
	ad := &cfg.Admission
	fs.BoolVar(&ad.Disabled, "no-limiter", false, "UNSAFE: turn load shedding off (no concurrency limit, no queues): only to compare a run with it off")
	fs.IntVar(&ad.MinLimit, "limit-min", ad.MinLimit, "lowest the adaptive limit on requests in flight may go")
	fs.IntVar(&ad.MaxLimit, "limit-max", ad.MaxLimit, "highest the adaptive limit on requests in flight may go")
	fs.IntVar(&ad.InitialLimit, "limit-initial", ad.InitialLimit, "the adaptive limit on requests in flight at start")
	for _, c := range admission.Classes {
		fs.DurationVar(&ad.MaxWait[c], "queue-wait-"+c.String(), ad.MaxWait[c], "longest "+c.String()+" work waits for a slot before it is shed with 503")
		fs.IntVar(&ad.QueueMax[c], "queue-"+c.String(), ad.QueueMax[c], "most "+c.String()+" requests waiting at once; more are shed with 503")
	}
	fs.Float64Var(&cfg.TokenRate.PerSecond, "rate-token", cfg.TokenRate.PerSecond, "requests per second one bearer token may make on average; past it 429 (0: no limit)")
	fs.IntVar(&cfg.TokenRate.Burst, "rate-token-burst", cfg.TokenRate.Burst, "requests one bearer token may make at once")
	fs.Float64Var(&cfg.AddrRate.PerSecond, "rate-addr", cfg.AddrRate.PerSecond, "requests per second one address may make to the routes that take no token; past it 429 (0: no limit)")
	fs.IntVar(&cfg.AddrRate.Burst, "rate-addr-burst", cfg.AddrRate.Burst, "requests one address may make at once to the routes that take no token")
	fare := &cfg.Rentals.Fare
	fs.Int64Var(&fare.UnlockWon, "fare-unlock", fare.UnlockWon, "rentals: `won` charged to unlock, once per ride")
	fs.Int64Var(&fare.PerMinuteWon, "fare-per-minute", fare.PerMinuteWon, "rentals: `won` per billed minute, a started minute counting whole")
	fs.Int64Var(&fare.DailyCapWon, "fare-daily-cap", fare.DailyCapWon, "rentals: most `won` charged for each 24 hours of billed time")
	fs.DurationVar(&fare.LockSkew, "lock-skew", fare.LockSkew, "rentals: how far ahead of the platform's clock a vehicle's lock time may be")
	fs.DurationVar(&fare.LockTolerance, "lock-tolerance", fare.LockTolerance, "rentals: how far a rider's locked_at may be from the vehicle's own lock report")
	fs.DurationVar(&cfg.Rentals.ReviewAfter, "rental-review-after", cfg.Rentals.ReviewAfter, "rentals: flag a ride for review when its vehicle reports nothing for this long")
	fs.DurationVar(&cfg.Rentals.CloseEvery, "rental-close-every", cfg.Rentals.CloseEvery, "rentals: how often the closer ends rides whose vehicle reported a lock")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&cfg.StartTimeout, "start-timeout", cfg.StartTimeout, "how long to wait for JetStream and, in a cluster, for a majority of the data centers")
	fs.StringVar(&cfg.AdvertiseURL, "advertise-url", "", "public base `URL` of this node's API, listed by GET /v1/endpoints (default: from --listen)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "serve the API over HTTPS with this certificate `file` (PEM)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "private key `file` for --tls-cert (PEM)")
	cl := node.ClusterConfig{}
	fs.StringVar(&cl.DC, "dc", "", "this node's data center `name`; with --peers, makes the node one member of a multi-DC cluster")
	peers := fs.String("peers", "", "comma-separated route addresses (`host:port,...`) of the other data centers' nodes")
	fs.StringVar(&cl.NodeName, "node-name", "", "this node's name in the cluster (default: the --dc name)")
	fs.StringVar(&cl.Name, "cluster-name", "haetae", "the cluster's `name`; all members use the same")
	fs.StringVar(&cl.Listen, "cluster-listen", "0.0.0.0:6222", "`address` for routes from the other data centers")
	fs.StringVar(&cl.Advertise, "cluster-advertise", "", "route `address` the others should dial, if not --cluster-listen")
	secretFile := fs.String("cluster-secret-file", "", "`file` holding the cluster secret (at least 16 characters; the same on every node)")
	fs.StringVar(&cl.Secret, "cluster-secret", "", "the cluster secret; prefer HAETAE_CLUSTER_SECRET or --cluster-secret-file, which ps cannot show")
	fs.StringVar(&cl.TLSCertFile, "cluster-tls-cert", "", "certificate `file` for mutual TLS on routes")
	fs.StringVar(&cl.TLSKeyFile, "cluster-tls-key", "", "private key `file` for --cluster-tls-cert")
	fs.StringVar(&cl.TLSCAFile, "cluster-tls-ca", "", "CA `file` that signs every node's route certificate")
	fs.String("config", "", "read flags from this `file`: one \"flag value\" per line, # for comments (see docs/cluster.md)")
	var adminToken string
	fs.StringVar(&adminToken, "admin-token", "", "admin token (default: generated into <data>/admin-token); prefer HAETAE_ADMIN_TOKEN")
	return &ffcli.Command{
		Name:       "serve",
		ShortUsage: "haetae serve [flags]",
		ShortHelp:  "run a Haetae node",
		LongHelp: `Run a Haetae node: an embedded NATS JetStream server and the HTTP/WebSocket API.

With no flags it is a complete single-node system with its data in ./haetae-data, listening on
127.0.0.1:8080.

With --dc and --peers it is one member of a cluster stretched over data centers: every stream and
bucket is replicated three times, one replica per data center, and a write is acknowledged only once
a majority has stored it. A node that cannot reach a majority refuses writes with 503 no_quorum.
Routes authenticate with a shared secret (--cluster-secret-file or HAETAE_CLUSTER_SECRET; there is no
default) and use mutual TLS when given certificates. See docs/cluster.md. Every write is fsynced before it is acknowledged; --lazy-sync turns that off and is
unsafe. SIGTERM or Ctrl-C drains: live clients are told to reconnect elsewhere, in-flight requests
finish, then JetStream is closed.`,
		FlagSet: fs,
		Options: []ff.Option{ff.WithEnvVarPrefix("HAETAE"), ff.WithConfigFileFlag("config"), ff.WithConfigFileParser(ff.PlainParser)},
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("serve takes no arguments, got %q", args)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
			cfg.AdminToken = adminToken
			if cl.DC != "" || *peers != "" {
				if cl.DC == "" || *peers == "" {
					return fmt.Errorf("a cluster node needs both --dc and --peers")
				}
				cl.Peers = strings.Split(*peers, ",")
				if *secretFile != "" {
					s, err := node.ReadSecretFile(*secretFile)
					if err != nil {
						return err
					}
					cl.Secret = s
				}
				cfg.Cluster = &cl
			}
			n := node.New(cfg)
			if err := n.Open(ctx); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "haetae: serving the API on %s\n", n.URL())
			fmt.Fprintf(env.Stdout, "haetae: data in %s\n", cfg.DataDir)
			if n.AdminTokenPath != "" {
				fmt.Fprintf(env.Stdout, "haetae: admin token in %s\n", n.AdminTokenPath)
			} else {
				fmt.Fprintln(env.Stdout, "haetae: admin token from HAETAE_ADMIN_TOKEN")
			}
			if cfg.LazySync {
				fmt.Fprintln(env.Stdout, "haetae: WARNING: --lazy-sync is on; acknowledged writes can be lost on power failure")
			}
			if cfg.Admission.Disabled {
				fmt.Fprintln(env.Stdout, "haetae: WARNING: --no-limiter is on; a surge can exhaust this node's memory")
			}
			<-ctx.Done()
			fmt.Fprintln(env.Stdout, "haetae: draining")
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			start := time.Now()
			err := n.Close(sctx)
			fmt.Fprintf(env.Stdout, "haetae: stopped in %s\n", time.Since(start).Round(time.Millisecond))
			return err
		},
	}
}
