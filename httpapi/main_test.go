package httpapi_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every node they start must stop
// everything it started (batchers, live tails, WebSocket writers, the embedded NATS server).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
