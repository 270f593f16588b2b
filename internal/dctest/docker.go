package dctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The labels on everything a cluster creates: its run prefix, and the process and host that made it,
// so that a later run can tell leftovers of a dead process from a live run's.
const (
	labelRun  = "haetae.dctest.run"
	labelPID  = "haetae.dctest.pid"
	labelHost = "haetae.dctest.host"
)

// dockerTimeout bounds one docker command; none of them should take near this long.
const dockerTimeout = 3 * time.Minute

// docker runs the docker command line with args and returns its standard output. The error carries
// the command and its standard error.
func docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

var dockerCheck struct {
	once sync.Once
	err  error
}

// Require skips the test when Docker is not usable here (no docker command, or no daemon answering) —
// unless the environment variable CI is set, when it fails it: CI must run the drills, not skip them.
// [Start] calls it; call it yourself before any other set-up that only a Docker test needs.
func Require(tb testing.TB) {
	tb.Helper()
	dockerCheck.once.Do(func() {
		if _, err := exec.LookPath("docker"); err != nil {
			dockerCheck.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, dockerCheck.err = docker(ctx, "version", "--format", "{{.Server.Version}}")
	})
	if dockerCheck.err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("dctest: CI is set but Docker is not usable, so the container drills cannot run: %v", dockerCheck.err)
	}
	tb.Skipf("dctest: Docker is not usable here (%v); skipping (with CI set this fails)", dockerCheck.err)
}

// removeLabelled force-removes the containers, then the networks, then the volumes carrying label
// (key=value), ignoring those already gone.
func removeLabelled(label string) {
	ctx := context.Background()
	for _, kind := range []struct{ list, rm []string }{
		{[]string{"ps", "--all", "--quiet"}, []string{"rm", "--force", "--volumes"}},
		{[]string{"network", "ls", "--quiet"}, []string{"network", "rm"}},
		{[]string{"volume", "ls", "--quiet"}, []string{"volume", "rm", "--force"}},
	} {
		out, err := docker(ctx, append(kind.list, "--filter", "label="+label)...)
		if ids := strings.Fields(out); err == nil && len(ids) > 0 {
			docker(ctx, append(kind.rm, ids...)...)
		}
	}
}

// reap removes what clusters of dead test processes on this host left behind: a process killed by
// `go test -timeout` runs no Cleanup, and Docker has a limited number of network address pools.
func reap(tb testing.TB) {
	out, err := docker(context.Background(), "ps", "--all", "--filter", "label="+labelPID,
		"--format", `{{.Label "`+labelRun+`"}} {{.Label "`+labelPID+`"}} {{.Label "`+labelHost+`"}}`)
	if err != nil {
		return
	}
	// Networks and volumes outlive their containers when a cleanup was cut short; find their runs too.
	for _, list := range [][]string{{"network", "ls"}, {"volume", "ls"}} {
		more, err := docker(context.Background(), append(list, "--filter", "label="+labelPID,
			"--format", `{{.Label "`+labelRun+`"}} {{.Label "`+labelPID+`"}} {{.Label "`+labelHost+`"}}`)...)
		if err == nil {
			out += more
		}
	}
	dead := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != hostname() {
			continue
		}
		if pid, err := strconv.Atoi(f[1]); err == nil && !alive(pid) {
			dead[f[0]] = true
		}
	}
	for run := range dead {
		tb.Logf("dctest: removing the leftovers of %s, whose test process is gone", run)
		removeLabelled(labelRun + "=" + run)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// mustFreePort picks a port for a published API that is free on 127.0.0.1 now, below the kernel's
// ephemeral range (32768 and up on Linux), so outgoing connections will not take it while its
// container is down between a kill and a restart.
func mustFreePort(tb testing.TB) int {
	tb.Helper()
	for range 200 {
		p := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			ln.Close()
			return p
		}
	}
	tb.Fatal("dctest: no free port on 127.0.0.1 between 20000 and 32000")
	return 0
}

// portTaken says whether docker start failed because the published port was taken meanwhile.
func portTaken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
