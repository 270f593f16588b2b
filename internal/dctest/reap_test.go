package dctest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestReapRemovesLeftoversOfDeadProcesses leaves a network as a test process killed mid-test would
// (labelled with a process that has exited) and one of a live process, and checks that reap removes the
// first only.
func TestReapRemovesLeftoversOfDeadProcesses(t *testing.T) {
	Require(t)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead, live := "dctest-"+randomHex(4), "dctest-"+randomHex(4)
	for _, n := range []struct{ run, pid string }{{dead, strconv.Itoa(gone.Process.Pid)}, {live, "1"}} {
		if _, err := docker(context.Background(), "network", "create", "--label", labelRun+"="+n.run,
			"--label", labelPID+"="+n.pid, "--label", labelHost+"="+hostname(), n.run+"-wan"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { removeLabelled(labelRun + "=" + live) })
	reap(t)
	out, err := docker(context.Background(), "network", "ls", "--format", "{{.Name}}", "--filter", "label="+labelRun)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, dead) {
		t.Errorf("the network of exited process %d was not removed", gone.Process.Pid)
	}
	if !strings.Contains(out, live) {
		t.Errorf("the network of live process 1 was removed")
	}
}
