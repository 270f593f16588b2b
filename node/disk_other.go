//go:build !unix

package node

import "errors"

// diskFree is not measured on this platform; the disk detector then watches JetStream's cap only.
func diskFree(dir string) (free, total uint64, err error) {
	return 0, 0, errors.New("free space is not measured on this platform")
}
