package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haetae/haetae/internal/testnode"
)

// TestEnvironmentConfiguresServe starts the binary with HAETAE_* variables only and checks that they
// took effect: the data directory, the listen address, the admin token and a limit.
func TestEnvironmentConfiguresServe(t *testing.T) {
	data := filepath.Join(t.TempDir(), "from-env")
	p := startServeEnv(t, []string{
		"HAETAE_DATA=" + data,
		"HAETAE_LISTEN=127.0.0.1:0",
		"HAETAE_ADMIN_TOKEN=s3cret-admin-token",
		"HAETAE_MAX_TEXT=10",
	})
	p.waitOutput(t, "admin token from HAETAE_ADMIN_TOKEN")
	if _, err := os.Stat(filepath.Join(data, "jetstream")); err != nil {
		t.Fatalf("HAETAE_DATA not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "admin-token")); !os.IsNotExist(err) {
		t.Fatalf("an admin token file was written although HAETAE_ADMIN_TOKEN was set: %v", err)
	}
	alice := testnode.MustUser(t, p.url, "alice")
	r := testnode.DoJSON(t, "POST", p.url+"/v1/rooms", alice, map[string]any{"members": []string{}})
	var room struct{ ID string }
	r.JSON(t, &room)
	r = testnode.DoJSON(t, "POST", p.url+"/v1/rooms/"+room.ID+"/messages", alice, map[string]string{"client_id": "a", "text": "eleven char"})
	if r.Status != 400 || r.ErrorCode() != "invalid_text" {
		t.Fatalf("HAETAE_MAX_TEXT=10 not applied: %d %s", r.Status, r.Body)
	}
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestAdminTokenFileIsPrivate checks the generated admin token: written once, mode 0600, kept across
// restarts.
func TestAdminTokenFileIsPrivate(t *testing.T) {
	data := t.TempDir()
	p := startServe(t, "--data", data, "--listen", "127.0.0.1:0")
	path := filepath.Join(data, "admin-token")
	p.waitOutput(t, "admin token in "+path)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v mode %v", err, st.Mode())
	}
	first, _ := os.ReadFile(path)
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 30*time.Second)
	startServe(t, "--data", data, "--listen", "127.0.0.1:0")
	if again, _ := os.ReadFile(path); string(again) != string(first) || len(strings.TrimSpace(string(first))) < 32 {
		t.Fatalf("admin token changed across a restart or is short: %q then %q", first, again)
	}
}
