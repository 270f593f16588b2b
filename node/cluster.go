package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/haetae/haetae/embednats"
	"github.com/haetae/haetae/jsstore"
	"github.com/nats-io/nats-server/v2/server"
)

// ClusterConfig makes a node one member of a cluster stretched over data centers: one node per DC,
// NATS routes between them, every stream and bucket replicated three times, one replica per DC.
type ClusterConfig struct {
	// Name of the cluster; all members use the same (default "haetae").
	Name string
	// DC names this node's data center. Replicas are placed so that no two share a DC.
	DC string
	// NodeName is this node's name in the cluster (default: the DC's name).
	NodeName string
	// Listen is the route address (default "0.0.0.0:6222").
	Listen string
	// Advertise is the route address the others should dial, when it differs from Listen.
	Advertise string
	// Peers are the route addresses, host:port, of the other members.
	Peers []string
	// Secret authenticates the routes; every member must have the same. Required.
	Secret string
	// TLSCertFile, TLSKeyFile and TLSCAFile, when set, put the routes under mutual TLS.
	TLSCertFile, TLSKeyFile, TLSCAFile string
}

// clusterReplicas is the replica count of every stream and bucket in a cluster: one per data center.
const clusterReplicas = 3

func (c *ClusterConfig) embed() (*embednats.Cluster, error) {
	ec := &embednats.Cluster{
		Name:      c.Name,
		DC:        c.DC,
		Listen:    c.Listen,
		Advertise: c.Advertise,
		User:      "haetae-route",
		Secret:    c.Secret,
	}
	if ec.Name == "" {
		ec.Name = "haetae"
	}
	if ec.Listen == "" {
		ec.Listen = "0.0.0.0:6222"
	}
	for _, p := range c.Peers {
		if p = strings.TrimSpace(p); p != "" {
			ec.Peers = append(ec.Peers, p)
		}
	}
	tlsCfg, err := routeTLS(c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile)
	if err != nil {
		return nil, err
	}
	ec.TLS = tlsCfg
	return ec, nil
}

// routeTLS builds the routes' mutual-TLS configuration: both sides present a certificate signed by the
// CA and verify the other's.
func routeTLS(cert, key, ca string) (*tls.Config, error) {
	if cert == "" && key == "" && ca == "" {
		return nil, nil
	}
	if cert == "" || key == "" || ca == "" {
		return nil, errors.New("route TLS needs all of --cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca")
	}
	cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key, CaFile: ca, Verify: true})
	if err != nil {
		return nil, fmt.Errorf("route TLS: %w", err)
	}
	// A route is dialled by either side: the dialler verifies the other's certificate against the same
	// CA, not the system's roots.
	cfg.RootCAs = cfg.ClientCAs
	return cfg, nil
}

// ReadSecretFile reads a cluster secret from a file, trimming the trailing newline editors add.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cluster secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// clusterStore sets what a cluster needs of the store: three replicas, and at least one message stream
// per data center so stream leaders can be spread and losing one DC stalls at most a third of rooms.
func clusterStore(cfg *jsstore.Config) {
	cfg.Replicas = clusterReplicas
	if cfg.Shards < clusterReplicas {
		cfg.Shards = clusterReplicas
	}
}

// waitQuorum waits until this node reaches a majority of the cluster, saying every few seconds what it
// is waiting for, so an operator starting DCs one by one sees why nothing happens yet.
func (n *Node) waitQuorum(ctx context.Context, deadline time.Time) error {
	lastSaid := time.Now()
	for {
		err := n.NATS.Formed()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no majority of the cluster within %s: %w", n.Config.StartTimeout, err)
		}
		if time.Since(lastSaid) > 5*time.Second {
			n.Config.Logger.Info("waiting for a majority of the cluster", "reason", err.Error(), "peers", n.NATS.Peers())
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// openStore opens the store, retrying while the cluster is electing leaders for the streams it creates.
// In a cluster only the JetStream meta leader creates or updates streams and buckets; the other nodes
// open them once they exist (see [jsstore.Config.OpenOnly] for why).
func (n *Node) openStore(ctx context.Context, cfg jsstore.Config, deadline time.Time) (*jsstore.Store, error) {
	lastSaid := time.Now()
	for {
		if n.Config.Cluster != nil {
			cfg.OpenOnly = n.NATS.MetaLeader() != n.NATS.Name()
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if cfg.OpenOnly {
			// A stream being created answers no info request until its group has a leader: ask
			// again soon rather than wait out the default time-out.
			actx, cancel = context.WithTimeout(ctx, time.Second)
		}
		st, err := jsstore.Open(actx, n.nc, cfg)
		cancel()
		if err == nil || n.Config.Cluster == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return st, err
		}
		if time.Since(lastSaid) > 5*time.Second {
			n.Config.Logger.Info("store not ready yet; retrying", "err", err.Error(), "provisioning", !cfg.OpenOnly)
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
