package httpapi

import (
	"testing"
	"time"
)

func TestLoginLimiterWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLoginLimiter()
	l.now = func() time.Time { return now }
	for i := 0; i < l.maxFails-1; i++ {
		l.failed("alice")
	}
	if _, blocked := l.blocked("alice"); blocked {
		t.Fatal("blocked before the limit")
	}
	l.failed("alice")
	if left, blocked := l.blocked("alice"); !blocked || left != l.window {
		t.Fatalf("at the limit: blocked=%v left=%v", blocked, left)
	}
	now = now.Add(l.window)
	if _, blocked := l.blocked("alice"); blocked {
		t.Fatal("still blocked after the window")
	}
	l.failed("bob")
	l.succeeded("bob")
	if len(l.m) != 0 {
		t.Fatalf("entries left: %v", l.m)
	}
}
