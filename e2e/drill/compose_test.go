package drill

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/haetae/haetae/internal/dctest"
)

const composeFile = "../../deploy/compose.yaml"

// TestComposeFileIsValid has Compose read the three-DC demo (deploy/compose.yaml) as `up` would, with
// docker-compose v1 or, where only it is installed, `docker compose` v2, so the demo of docs/cluster.md
// does not rot; and holds its published ports to 127.0.0.1. The demo itself binds fixed ports
// (8081–8083), so it is not started here: the drills run the same image through internal/dctest.
func TestComposeFileIsValid(t *testing.T) {
	dctest.Require(t)
	var args []string
	switch {
	case exec.Command("docker-compose", "version").Run() == nil:
		args = []string{"docker-compose", "-f", composeFile, "config", "--quiet"}
	case exec.Command("docker", "compose", "version").Run() == nil:
		args = []string{"docker", "compose", "-f", composeFile, "config", "--quiet"}
	default:
		t.Skip("neither docker-compose nor the docker compose plugin is installed")
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}

	src, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	ports := regexp.MustCompile(`(?m)^\s*ports:\s*\[(.*)\]`).FindAllStringSubmatch(string(src), -1)
	if len(ports) != 3 {
		t.Fatalf("want one ports line per DC in %s, found %d", composeFile, len(ports))
	}
	for _, p := range ports {
		for _, spec := range strings.Split(p[1], ",") {
			if spec = strings.Trim(strings.TrimSpace(spec), `"`); !strings.HasPrefix(spec, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond 127.0.0.1", composeFile, spec)
			}
		}
	}
}
