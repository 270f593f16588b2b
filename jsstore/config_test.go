package jsstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae/jsstore"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*jsstore.Config)
		want   string
	}{
		{"default_is_valid", func(c *jsstore.Config) {}, ""},
		{"cluster_is_valid", func(c *jsstore.Config) { c.Replicas, c.Shards = 3, 6 }, ""},
		{"no_shards", func(c *jsstore.Config) { c.Shards = 0 }, "shards"},
		{"too_many_replicas", func(c *jsstore.Config) { c.Replicas = 7 }, "replicas"},
		{"empty_batches", func(c *jsstore.Config) { c.BatchMax = 0 }, "batch-max"},
		{"no_dedupe_window", func(c *jsstore.Config) { c.DedupeWindow = 0 }, "dedupe-window"},
		{"instant_sessions", func(c *jsstore.Config) { c.SessionTTL = time.Second }, "session-ttl"},
		{"negative_text", func(c *jsstore.Config) { c.Limits.TextMax = -5 }, "max-text"},
		{"tiny_body", func(c *jsstore.Config) { c.Limits.BodyMax = 10 }, "max-body"},
		{"huge_body", func(c *jsstore.Config) { c.Limits.BodyMax = 1 << 30 }, "max-body"},
		{"no_members", func(c *jsstore.Config) { c.Limits.MembersMax = 0 }, "max-members"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := jsstore.DefaultConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
