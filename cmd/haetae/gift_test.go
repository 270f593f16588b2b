package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

func TestGiftHelp(t *testing.T) {
	for _, args := range [][]string{
		{"gift"}, {"gift", "send"}, {"gift", "list"}, {"gift", "show"}, {"gift", "redeem"}, {"merchant"}, {"merchant", "create"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(testCtx(t), append(args, "--help"), noEnv, strings.NewReader(""), &out, &errOut); code != 0 {
				t.Fatalf("exit %d, want 0; stderr: %s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), "haetae "+strings.Join(args, " ")) {
				t.Fatalf("help does not show the usage: %s", errOut.String())
			}
		})
	}
}

// TestGiftCommands: an admin makes merchants, alice sends bob a gift, one merchant redeems it (and a
// re-run with its key says the same), another is told who won and exits 1.
func TestGiftCommands(t *testing.T) {
	ctx := testCtx(t)
	cfg := testnode.Config(t)
	cfg.AdminToken = "cli-test-admin-token-0123456789"
	n := testnode.MustStart(t, cfg)
	admin := newCLIUser(t, n.URL())
	for _, m := range []string{"cafe", "bakery"} {
		out := admin.mustRun(ctx, testPassword+"\n", "merchant", "create", "--password-stdin", "--admin-token", cfg.AdminToken, m)
		if !strings.Contains(out, "made merchant "+m) {
			t.Fatalf("merchant create: %s", out)
		}
	}
	if c, _, stderr := admin.run(ctx, testPassword+"\n", "merchant", "create", "--password-stdin", "--admin-token", "wrong-token", "shop"); c != 1 || !strings.Contains(stderr, "forbidden") {
		t.Fatalf("merchant create with a wrong admin token: exit %d, %s", c, stderr)
	}

	users := map[string]*cliUser{}
	for _, name := range []string{"alice", "bob", "cafe", "bakery"} {
		u := newCLIUser(t, n.URL())
		if name == "alice" || name == "bob" {
			u.mustRun(ctx, testPassword+"\n", "register", "--password-stdin", name)
		}
		u.mustRun(ctx, testPassword+"\n", "login", "--password-stdin", name)
		users[name] = u
	}
	out := users["alice"].mustRun(ctx, "", "gift", "send", "--client-id", "bday", "bob", "Chocolate", "cake")
	if !strings.Contains(out, "sent bob a gift: Chocolate cake") {
		t.Fatalf("gift send: %s", out)
	}
	if again := users["alice"].mustRun(ctx, "", "gift", "send", "--client-id", "bday", "bob", "Chocolate", "cake"); !strings.Contains(again, "already sent") {
		t.Fatalf("gift send again: %s", again)
	}
	gifts := decodeLines[haetae.Gift](t, users["bob"].mustRun(ctx, "", "gift", "list", "--json"))
	if len(gifts) != 1 || gifts[0].Status != haetae.GiftIssued || gifts[0].From != "alice" {
		t.Fatalf("bob's gifts: %+v", gifts)
	}
	code := gifts[0].Code
	if list := users["alice"].mustRun(ctx, "", "gift", "list"); !strings.Contains(list, code) || !strings.Contains(list, "issued") {
		t.Fatalf("alice's gift list: %s", list)
	}
	typed := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	out = users["cafe"].mustRun(ctx, "", "gift", "redeem", "--key", "till1-0001", typed)
	if !strings.HasPrefix(out, "redeemed "+code) {
		t.Fatalf("gift redeem: %s", out)
	}
	if again := users["cafe"].mustRun(ctx, "", "gift", "redeem", "--key", "till1-0001", code); again != out {
		t.Fatalf("gift redeem with the same key: %q, first %q", again, out)
	}
	c, stdout, stderr := users["bakery"].run(ctx, "", "gift", "redeem", code)
	if c != 1 || !strings.Contains(stdout, "already redeemed") || !strings.Contains(stdout, "by cafe") || !strings.Contains(stderr, "not redeemed") {
		t.Fatalf("another merchant: exit %d\nstdout: %s\nstderr: %s", c, stdout, stderr)
	}
	users["bob"].wantFail(ctx, 1, "forbidden", "gift", "redeem", code)
	users["bob"].wantFail(ctx, 1, "invalid_code", "gift", "show", "nope")
	if show := users["bob"].mustRun(ctx, "", "gift", "show", code); !strings.Contains(show, "redeemed") || !strings.Contains(show, "by cafe") {
		t.Fatalf("gift show: %s", show)
	}
}
