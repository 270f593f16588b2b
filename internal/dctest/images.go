package dctest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// images are the tags of the two images a cluster runs.
type images struct {
	haetae, toxiproxy string
}

// Image repositories. Tags are the first hex digits of the binary's SHA-256, so an unchanged binary
// reuses its image and a changed one never runs an old image.
const (
	haetaeRepo    = "haetae-dctest/haetae"
	toxiproxyRepo = "haetae-dctest/toxiproxy"
	labelImage    = "haetae.dctest.image=1"
)

// toxiproxyDockerfile is the Toxiproxy image: its static server binary only, its API on 8474.
const toxiproxyDockerfile = `FROM scratch
COPY toxiproxy /toxiproxy
ENTRYPOINT ["/toxiproxy"]
CMD ["-host", "0.0.0.0", "-port", "8474"]
`

var built struct {
	mu sync.Mutex
	images
}

// mustImages returns the images, building them the first time in this process (and again if one was
// removed meanwhile). Building is `go build` of a static binary into a temporary context directory and
// `docker build` there; Go's build cache makes the second time quick.
func mustImages(tb testing.TB) images {
	tb.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.haetae == "" || !imageExists(built.haetae) {
		root := mustRepoRoot(tb)
		dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
		if err != nil {
			tb.Fatalf("dctest: the repository's Dockerfile: %v", err)
		}
		built.haetae = mustBuildImage(tb, haetaeRepo, root, "haetae", "./cmd/haetae", dockerfile)
	}
	if built.toxiproxy == "" || !imageExists(built.toxiproxy) {
		mod := filepath.Join(mustRepoRoot(tb), "internal", "dctest", "toxiproxy")
		built.toxiproxy = mustBuildImage(tb, toxiproxyRepo, mod, "toxiproxy", "github.com/Shopify/toxiproxy/v2/cmd/server", []byte(toxiproxyDockerfile))
	}
	return built.images
}

// mustBuildImage builds pkg statically (CGO_ENABLED=0) in module directory dir as binary name, and an
// image of it from dockerfile, tagged repo:<hash of the binary>. It skips docker build when that image
// exists already.
func mustBuildImage(tb testing.TB, repo, dir, name, pkg string, dockerfile []byte) string {
	tb.Helper()
	ctxDir, err := os.MkdirTemp("", "dctest-image-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(ctxDir)
	bin := filepath.Join(ctxDir, name)
	build := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("dctest: static build of %s: %v\n%s", pkg, err, out)
	}
	sum, err := fileSHA256(bin)
	if err != nil {
		tb.Fatal(err)
	}
	tag := repo + ":" + sum[:16]
	if imageExists(tag) {
		return tag
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), dockerfile, 0o644); err != nil {
		tb.Fatal(err)
	}
	if _, err := docker(context.Background(), "build", "--quiet", "--label", labelImage, "--tag", tag, ctxDir); err != nil {
		tb.Fatalf("dctest: %v", err)
	}
	// Images of binaries built more than a day ago and used by no container are stale: remove them
	// (never newer ones, which a concurrent run may be about to start).
	docker(context.Background(), "image", "prune", "--all", "--force", "--filter", "label="+labelImage, "--filter", "until=24h")
	return tag
}

func imageExists(tag string) bool {
	_, err := docker(context.Background(), "image", "inspect", "--format", "{{.Id}}", tag)
	return err == nil
}

// mustRepoRoot finds the repository by the main module's go.mod, from the test's working directory.
func mustRepoRoot(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		tb.Fatalf("dctest: cannot find the repository's go.mod from %s: %v", mustGetwd(tb), err)
	}
	return filepath.Dir(gomod)
}

func mustGetwd(tb testing.TB) string {
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	return wd
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
