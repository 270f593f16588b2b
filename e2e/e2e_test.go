// Package e2e tests the haetae binary as a process: it is built once, run on loopback, and killed with
// real signals. The multi-DC container drills live here too.
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
	"syscall"
	"testing"
	"time"
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
	out  *strings.Builder
}

var listenRE = regexp.MustCompile(`serving the API on (http://\S+)`)

// startServe runs `haetae serve` with args and waits until it says where it listens.
func startServe(tb testing.TB, args ...string) *proc {
	tb.Helper()
	cmd := exec.Command(haetaeBin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), "HAETAE_ADMIN_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out := &strings.Builder{}
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
