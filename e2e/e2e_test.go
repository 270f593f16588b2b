// Package e2e tests the haetae binary as a process: it is built once, run on loopback, and killed with
// real signals. The multi-DC container drills, which run the binary in Docker, one container per data
// center, are in e2e/drill (docs/reliability.md).
package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/haetae/haetae/internal/testnode"
)

var haetaeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "haetae-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	haetaeBin = filepath.Join(dir, "haetae")
	build := exec.Command("go", "build", "-o", haetaeBin, "../cmd/haetae")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build haetae:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running `haetae serve`.
type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan error
	out  *lockedBuffer
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listenRE = regexp.MustCompile(`serving the API on (http://\S+)`)

// startServe runs `haetae serve` with args and waits until it says where it listens.
func startServe(tb testing.TB, args ...string) *proc {
	tb.Helper()
	return startServeEnv(tb, nil, args...)
}

// startServeEnv is startServe with extra environment variables.
func startServeEnv(tb testing.TB, env []string, args ...string) *proc {
	tb.Helper()
	cmd := exec.Command(haetaeBin, append([]string{"serve"}, args...)...)
	cmd.Env = append(append(os.Environ(), "HAETAE_ADMIN_TOKEN="), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1), out: out}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if m := listenRE.FindStringSubmatch(line); m != nil {
				urlc <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.url = <-urlc:
		return p
	case err := <-p.done:
		p.done <- err
		tb.Fatalf("haetae serve exited: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		tb.Fatalf("haetae serve did not start\n%s", out.String())
	}
	return nil
}

// waitOutput waits until the process has printed want.
func (p *proc) waitOutput(tb testing.TB, want string) {
	tb.Helper()
	testnode.CheckFor(tb, 10*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(p.out.String(), want) {
			return fmt.Errorf("output lacks %q:\n%s", want, p.out.String())
		}
		return nil
	})
}

func (p *proc) wait(tb testing.TB, timeout time.Duration) error {
	tb.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		tb.Fatalf("haetae did not exit within %s", timeout)
		return nil
	}
}

func (p *proc) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
}
