package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae/internal/testnode"
)

// TestIncidentCommands: an operator opens, updates and resolves an incident; anyone reads the status
// in the terminal and the notice for users with the compensation owed.
func TestIncidentCommands(t *testing.T) {
	cfg := testnode.Config(t)
	cfg.AdminToken = "admin-token-for-cli-tests-0123"
	n := testnode.MustStart(t, cfg)
	ctx := testCtx(t)
	u := newCLIUser(t, n.URL())
	admin := []string{"--admin-token", cfg.AdminToken}

	u.wantFail(ctx, 1, "admin token is needed", "incident", "open", "--title", "x", "--components", "messaging")
	id := strings.TrimSpace(u.mustRun(ctx, "", append([]string{"incident", "open", "--title", "Messages delayed", "--impact", "major",
		"--components", "messaging,live", "--cause", "a slow disk in dc2", "--started", time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)}, admin...)...))
	if id == "" {
		t.Fatal("open printed no id")
	}
	out := u.mustRun(ctx, "", append([]string{"incident", "update", "--stage", "identified", "--text", "disk found", id}, admin...)...)
	if !strings.Contains(out, "identified") {
		t.Fatalf("update: %s", out)
	}
	u.wantFail(ctx, 1, "conflict", append([]string{"incident", "update", "--stage", "investigating", "--text", "back", id}, admin...)...)

	status := u.mustRun(ctx, "", "status", "--color", "never")
	for _, want := range []string{"Degraded service", "OPEN INCIDENTS", "Messages delayed", "UPTIME, LAST 90 DAYS", "messaging", "cause: a slow disk in dc2"} {
		if !strings.Contains(strings.ToUpper(status), strings.ToUpper(want)) {
			t.Errorf("haetae status lacks %q:\n%s", want, status)
		}
	}

	u.mustRun(ctx, "", append([]string{"incident", "update", "--stage", "resolved", "--text", "replaced", id}, admin...)...)
	notice := u.mustRun(ctx, "", "incident", "report", "--monthly-fee", "7200", id)
	for _, want := range []string{"NOTICE OF SERVICE DISRUPTION", "Messages delayed", "a slow disk in dc2", "messaging", "Owed to each user: 9 h of service credit and 9"} {
		if !strings.Contains(notice, want) {
			t.Errorf("the notice lacks %q:\n%s", want, notice)
		}
	}
	u.wantFail(ctx, 1, "not_found", "incident", "report", "nope")

	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("a-secret-of-16-chars\n"), 0o600)
	hook := strings.TrimSpace(u.mustRun(ctx, "", append([]string{"webhook", "add", "--secret-file", secret, "http://127.0.0.1:9/hook"}, admin...)...))
	if list := u.mustRun(ctx, "", append([]string{"webhook", "list"}, admin...)...); !strings.Contains(list, hook) || strings.Contains(list, "a-secret") {
		t.Fatalf("webhook list: %s", list)
	}
	u.mustRun(ctx, "", append([]string{"webhook", "remove", hook}, admin...)...)
}
