package embednats

import (
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// StreamReplicas is one stream as this server's replica sees it.
type StreamReplicas struct {
	Name string
	// Leader names the server leading the stream's group; "" when it has none.
	Leader string
	// Led says whether this server leads it.
	Led bool
	// Replicas is the configured replica count.
	Replicas int
	// Behind names the other replicas that are offline or not current, as far as this server knows;
	// only a leader knows it well.
	Behind []string
}

// Streams reports every stream of haetae's account from this server's own state: no request leaves
// the process, so it answers on a node cut off from the others too.
func (s *Server) Streams() []StreamReplicas {
	jsz, err := s.ns.Jsz(&server.JSzOptions{Accounts: true, Streams: true, Config: true})
	if err != nil {
		return nil
	}
	var out []StreamReplicas
	for _, acc := range jsz.AccountDetails {
		if acc.Name != Account && acc.Id != Account {
			continue
		}
		for _, sd := range acc.Streams {
			r := StreamReplicas{Name: sd.Name, Replicas: 1, Led: true, Leader: s.Name()}
			if sd.Config != nil && sd.Config.Replicas > 0 {
				r.Replicas = sd.Config.Replicas
			}
			if ci := sd.Cluster; ci != nil && s.Clustered() {
				r.Leader = ci.Leader
				r.Led = ci.Leader == s.Name()
				for _, p := range ci.Replicas {
					if p == nil || strings.HasPrefix(p.Name, "Server name unknown") {
						continue
					}
					if p.Offline || !p.Current {
						r.Behind = append(r.Behind, p.Name)
					}
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// StoreUsage is the disk JetStream uses and its cap (--max-store; 0 for none).
func (s *Server) StoreUsage() (used, limit int64) {
	jsz, err := s.ns.Jsz(&server.JSzOptions{})
	if err != nil {
		return 0, 0
	}
	return int64(jsz.Store), s.cfg.MaxStore
}

// DataDir is the directory the server stores under.
func (s *Server) DataDir() string { return s.cfg.DataDir }
