//go:build !unix

package node

import "os"

// lockDataDir is a no-op where flock is not available; run one process per data directory there.
func lockDataDir(dir string) (*os.File, error) { return nil, nil }
