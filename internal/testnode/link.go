package testnode

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Link is a network path from a client to one node that a test can cut and restore, as a vehicle
// loses and regains its mobile link or a data center drops off the network. It forwards TCP on a
// loopback port of its own to the node's address; while cut it closes every connection it carries
// and every new one at once, so the client sees connections refused or reset, not slowness.
type Link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewLink starts a link to target (host:port) and closes it when the test ends.
func NewLink(tb testing.TB, target string) *Link {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	l := &Link{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.accept()
	tb.Cleanup(l.close)
	return l
}

// URL is the link's end as an API base URL.
func (l *Link) URL() string { return "http://" + l.ln.Addr().String() }

// Cut breaks the link: open connections are closed, new ones closed as soon as they are accepted.
func (l *Link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for c := range l.conns {
		c.Close()
	}
}

// Restore mends the link.
func (l *Link) Restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
}

func (l *Link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.cut {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go l.forward(c)
	}
}

func (l *Link) forward(c net.Conn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		c.Close()
	}()
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		return
	}
	l.mu.Lock()
	if l.cut {
		l.mu.Unlock()
		up.Close()
		return
	}
	l.conns[up] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.conns, up)
		l.mu.Unlock()
		up.Close()
	}()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.Close(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.Close(); done <- struct{}{} }()
	<-done
	<-done
}

func (l *Link) close() {
	l.ln.Close()
	l.Cut()
	l.wg.Wait()
}
