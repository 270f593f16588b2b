package node_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/node"
)

// TestClusterQuorumLoss stops two of three nodes: the survivor refuses writes at once with 503
// no_quorum and Retry-After, fails /readyz, keeps serving reads and its endpoint list, and says how
// stale its reads may be. When a second node returns, it takes writes again.
func TestClusterQuorumLoss(t *testing.T) {
	c := testnode.MustCluster(t, 3)
	base := c.Nodes[0].URL()
	tok := testnode.MustUser(t, base, "alice")
	var room struct{ ID string }
	testnode.DoJSON(t, "POST", base+"/v1/rooms", tok, map[string]any{"title": "t", "members": []string{}}).JSON(t, &room)
	send := func(id string) *testnode.Response {
		return testnode.DoJSON(t, "POST", base+"/v1/rooms/"+room.ID+"/messages", tok, map[string]string{"client_id": id, "text": "hi " + id})
	}
	if r := send("before"); r.Status != 201 {
		t.Fatalf("send with all nodes up: %d %s", r.Status, r.Body)
	}
	if r := testnode.Do(t, "GET", base+"/readyz", "", nil); r.Status != 200 {
		t.Fatalf("readyz with all nodes up: %d %s", r.Status, r.Body)
	}

	c.Stop(1)
	if r := send("one-down"); r.Status != 201 {
		t.Fatalf("send with a majority: %d %s", r.Status, r.Body)
	}
	c.Stop(2)
	testnode.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if r := testnode.Do(t, "GET", base+"/readyz", "", nil); r.Status != 503 || r.ErrorCode() != "no_quorum" {
			return fmt.Errorf("readyz without a majority: %d %s", r.Status, r.Body)
		}
		return nil
	})
	r := send("alone")
	if r.Status != 503 || r.ErrorCode() != "no_quorum" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("send without a majority: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if r := testnode.DoJSON(t, "POST", base+"/v1/users", "", map[string]string{"name": "bob", "password": "password-bob"}); r.Status != 503 || r.ErrorCode() != "no_quorum" {
		t.Fatalf("register without a majority: %d %s", r.Status, r.Body)
	}
	// Reads are served from the local replica, with a bound on their age. While the replica's RAFT
	// group changes state it may briefly answer none (503 unavailable, which clients retry).
	testnode.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		r = testnode.Do(t, "GET", base+"/v1/rooms/"+room.ID+"/messages", tok, nil)
		if r.Status != 200 {
			return fmt.Errorf("history without a majority: %d %s", r.Status, r.Body)
		}
		return nil
	})
	if !bytes.Contains(r.Body, []byte(`"one-down"`)) {
		t.Fatalf("history without a majority lacks an acknowledged message: %s", r.Body)
	}
	stale, err := strconv.Atoi(r.Header.Get("Haetae-Max-Staleness"))
	if err != nil || stale <= 0 {
		t.Fatalf("a read without a majority should say it may be stale, Haetae-Max-Staleness=%q", r.Header.Get("Haetae-Max-Staleness"))
	}
	if r := testnode.Do(t, "GET", base+"/v1/endpoints", "", nil); r.Status != 200 || !bytes.Contains(r.Body, []byte(`"self":true`)) {
		t.Fatalf("endpoints without a majority: %d %s", r.Status, r.Body)
	}

	c.Restart(1)
	testnode.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if r := send("healed"); r.Status != 201 {
			return fmt.Errorf("send after a node returned: %d %s", r.Status, r.Body)
		}
		return nil
	})
	msgs := testnode.History(t, base, tok, room.ID)
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ClientID)
	}
	if got := strings.Join(ids, ","); got != "before,one-down,healed" {
		t.Fatalf("history after the heal: %s", got)
	}
}

// TestClusterEndpoints: every node lists all three endpoints, itself first.
func TestClusterEndpoints(t *testing.T) {
	c := testnode.MustCluster(t, 3)
	for i, n := range c.Nodes {
		testnode.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			var out struct {
				Endpoints []struct {
					URL, DC, Node string
					Self, Ready   bool
				}
			}
			testnode.Do(t, "GET", n.URL()+"/v1/endpoints", "", nil).JSON(t, &out)
			if len(out.Endpoints) != 3 {
				return fmt.Errorf("node %d lists %d endpoints: %+v", i+1, len(out.Endpoints), out.Endpoints)
			}
			if e := out.Endpoints[0]; !e.Self || e.URL != n.URL() || e.DC != fmt.Sprintf("dc%d", i+1) {
				return fmt.Errorf("node %d does not list itself first: %+v", i+1, e)
			}
			seen := map[string]bool{}
			for _, e := range out.Endpoints {
				seen[e.URL] = e.Ready
			}
			for j, u := range c.URLs() {
				if !seen[u] {
					return fmt.Errorf("node %d does not list node %d (%s) as ready: %+v", i+1, j+1, u, out.Endpoints)
				}
			}
			return nil
		})
	}
}

// syncBuffer is a log sink tests read while nodes write to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClusterWrongSecret: a node with another cluster secret is refused by the cluster, never joins
// it, and both it and the cluster log why.
func TestClusterWrongSecret(t *testing.T) {
	cfgs := testnode.ClusterConfigs(t, 3)
	var clusterLog syncBuffer
	cfgs[0].Logger = slog.New(slog.NewTextHandler(&clusterLog, nil))
	c := testnode.StartCluster(t, cfgs)
	c.Stop(2) // node 3 comes back with the wrong secret

	intruder := cfgs[2]
	intruder.Cluster.Secret = "not-the-cluster-secret-at-all"
	intruder.StartTimeout = 3 * time.Second
	var log syncBuffer
	intruder.Logger = slog.New(slog.NewTextHandler(&log, nil))
	n := node.New(intruder)
	err := n.Open(context.Background())
	n.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "majority") {
		t.Fatalf("a node with the wrong secret should not start: %v", err)
	}
	if !strings.Contains(strings.ToLower(log.String()), "authorization violation") {
		t.Errorf("the refused node's log does not say why:\n%s", log.String())
	}
	if !strings.Contains(strings.ToLower(clusterLog.String()), "authentication") {
		t.Errorf("the cluster's log does not say a route was refused:\n%s", clusterLog.String())
	}
	if p := c.Nodes[0].NATS.ReachablePeers(); p != 1 {
		t.Errorf("node 1 has routes to %d peers, want only node 2", p)
	}
}

// TestClusterSecretRequired: cluster mode has no default secret.
func TestClusterSecretRequired(t *testing.T) {
	cfg := testnode.ClusterConfigs(t, 3)[0]
	cfg.Cluster.Secret = ""
	n := node.New(cfg)
	err := n.Open(context.Background())
	n.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("a cluster without a secret should not start: %v", err)
	}
}

// TestClusterTLS: routes under mutual TLS form a working cluster; a node presenting a certificate
// from another CA is refused.
func TestClusterTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir, "ca")
	cfgs := testnode.ClusterConfigs(t, 3)
	for i := range cfgs {
		cert, key := ca.issue(t, dir, fmt.Sprintf("dc%d", i+1))
		cfgs[i].Cluster.TLSCertFile, cfgs[i].Cluster.TLSKeyFile, cfgs[i].Cluster.TLSCAFile = cert, key, ca.certFile
	}
	c := testnode.StartCluster(t, cfgs)
	c.Stop(2) // node 3 comes back with a certificate of another CA
	tok := testnode.MustUser(t, c.Nodes[0].URL(), "alice")
	if r := testnode.Do(t, "GET", c.Nodes[1].URL()+"/v1/rooms", tok, nil); r.Status != 200 {
		t.Fatalf("a token issued on node 1 is not accepted on node 2 over TLS routes: %d %s", r.Status, r.Body)
	}

	other := newCA(t, dir, "other")
	intruder := cfgs[2]
	intruder.Cluster.TLSCertFile, intruder.Cluster.TLSKeyFile = other.issue(t, dir, "dc3-forged")
	intruder.Cluster.TLSCAFile = other.certFile
	intruder.StartTimeout = 3 * time.Second
	n := node.New(intruder)
	err := n.Open(context.Background())
	n.Close(context.Background())
	if err == nil {
		t.Fatal("a node with a certificate of another CA joined the cluster")
	}
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certFile string
}

func newCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	f := filepath.Join(dir, name+"-ca.pem")
	writePEM(t, f, "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, certFile: f}
}

// issue makes a certificate for a node, valid as server and client on 127.0.0.1.
func (ca *testCA) issue(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kb)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
