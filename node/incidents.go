package node

import (
	"github.com/haetae/haetae/embednats"
	"github.com/haetae/haetae/status"
)

// streamHealth adapts the embedded server's view of its streams to what the stream detector reads.
func streamHealth(ns *embednats.Server) func() []status.StreamHealth {
	return func() []status.StreamHealth {
		var out []status.StreamHealth
		for _, r := range ns.Streams() {
			out = append(out, status.StreamHealth{Name: r.Name, Leader: r.Leader, Led: r.Led, Replicas: r.Replicas, Behind: r.Behind})
		}
		return out
	}
}
