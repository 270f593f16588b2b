package admission_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a waiter's goroutine or timer outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
