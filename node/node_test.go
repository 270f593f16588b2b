package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/node"
)

// TestDataDirIsExclusive starts a second node on a data directory in use: it must refuse, not share
// JetStream's files; once the first is closed, the directory can be used again.
func TestDataDirIsExclusive(t *testing.T) {
	cfg := testnode.Config(t)
	first := node.New(cfg)
	if err := first.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := node.New(cfg)
	err := second.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "in use by another haetae process") {
		second.Close(context.Background())
		t.Fatalf("second node on the same data dir: %v", err)
	}
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	testnode.MustStart(t, cfg)
}
