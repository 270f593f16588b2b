package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
	"github.com/haetae/haetae/node"
)

const testPassword = "correct horse battery"

// newTestNode starts an in-process node and closes it when the test ends.
func newTestNode(tb testing.TB) *node.Node {
	tb.Helper()
	return testnode.MustStart(tb, testnode.Config(tb))
}

// syncBuffer is an output a command may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cliUser runs commands as one user: its own config dir, and --server unless noServer.
type cliUser struct {
	tb        testing.TB
	server    string
	configDir string
}

func newCLIUser(tb testing.TB, server string) *cliUser {
	tb.Helper()
	return &cliUser{tb: tb, server: server, configDir: filepath.Join(tb.TempDir(), "config")}
}

func noEnv(string) string { return "" }

// run runs haetae with args (and the user's --config-dir and --server, added at the end or before "--") and
// stdin, and returns the exit code and outputs.
func (u *cliUser) run(ctx context.Context, stdin string, args ...string) (code int, stdout, stderr string) {
	u.tb.Helper()
	var out, errOut syncBuffer
	common := []string{"--config-dir", u.configDir}
	if u.server != "" {
		common = append(common, "--server", u.server)
	}
	if i := slices.Index(args, "--"); i >= 0 {
		args = slices.Concat(args[:i], common, args[i:])
	} else {
		args = slices.Concat(args, common)
	}
	code = run(ctx, args, noEnv, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustRun runs a command that must succeed, and returns its stdout.
func (u *cliUser) mustRun(ctx context.Context, stdin string, args ...string) string {
	u.tb.Helper()
	code, stdout, stderr := u.run(ctx, stdin, args...)
	if code != 0 {
		u.tb.Fatalf("haetae %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// wantFail runs a command that must exit with code and print wantErr on stderr.
func (u *cliUser) wantFail(ctx context.Context, code int, wantErr string, args ...string) {
	u.tb.Helper()
	got, stdout, stderr := u.run(ctx, "", args...)
	if got != code || !strings.Contains(stderr, wantErr) {
		u.tb.Fatalf("haetae %s: exit %d, stderr %q; want exit %d and %q\nstdout: %s", strings.Join(args, " "), got, stderr, code, wantErr, stdout)
	}
}

// decodeLines decodes one JSON value per line of out into a slice of T.
func decodeLines[T any](tb testing.TB, out string) []T {
	tb.Helper()
	var vs []T
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			tb.Fatalf("line %q is not one JSON value: %v", line, err)
		}
		vs = append(vs, v)
	}
	return vs
}

func decodeOne[T any](tb testing.TB, out string) T {
	tb.Helper()
	vs := decodeLines[T](tb, out)
	if len(vs) != 1 {
		tb.Fatalf("want one JSON line, got %d in %q", len(vs), out)
	}
	return vs[0]
}

func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func TestClientHelp(t *testing.T) {
	for _, args := range [][]string{
		{"register"}, {"login"}, {"rooms"}, {"room"}, {"room", "create"}, {"room", "add"},
		{"send"}, {"history"}, {"tail"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(testCtx(t), append(args, "--help"), noEnv, strings.NewReader(""), &out, &errOut)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr: %s", code, errOut.String())
			}
			help := out.String() + errOut.String()
			if !strings.Contains(help, "USAGE") || !strings.Contains(help, "haetae "+strings.Join(args, " ")) {
				t.Fatalf("help does not show the usage of %q:\n%s", args, help)
			}
			if len(args) == 1 && args[0] != "room" && !strings.Contains(help, "Example") {
				t.Fatalf("help has no example:\n%s", help)
			}
		})
	}
}

func TestClientCommands(t *testing.T) {
	ctx := testCtx(t)
	n := newTestNode(t)
	alice := newCLIUser(t, n.URL())
	bob := newCLIUser(t, n.URL())

	// Register: password from stdin with --password-stdin, or after a prompt.
	if out := alice.mustRun(ctx, testPassword+"\n", "register", "--password-stdin", "alice"); !strings.Contains(out, "registered alice") {
		t.Fatalf("register printed %q", out)
	}
	if got := decodeOne[map[string]any](t, bob.mustRun(ctx, testPassword, "register", "--json", "bob")); got["name"] != "bob" {
		t.Fatalf("register --json printed %v", got)
	}
	newCLIUser(t, n.URL()).mustRun(ctx, testPassword+"\n", "register", "--password-stdin", "carol")
	code, _, stderr := alice.run(ctx, testPassword+"\n", "register", "--password-stdin", "alice")
	if code != 1 || !strings.Contains(stderr, "haetae: name_taken: ") {
		t.Fatalf("register a taken name: exit %d, stderr %q", code, stderr)
	}

	// Nothing works before login, and a wrong password says so.
	alice.wantFail(ctx, 1, "not logged in", "rooms")
	code, _, stderr = alice.run(ctx, "wrong password\n", "login", "--password-stdin", "alice")
	if code != 1 || !strings.Contains(stderr, "haetae: bad_credentials: ") {
		t.Fatalf("login with a wrong password: exit %d, stderr %q", code, stderr)
	}

	// Login keeps the session, readable by its owner only.
	code, stdout, stderr := alice.run(ctx, testPassword+"\n", "login", "alice")
	if code != 0 || !strings.Contains(stderr, "Password for alice") || !strings.Contains(stdout, "logged in as alice") {
		t.Fatalf("login: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	bob.mustRun(ctx, testPassword+"\n", "login", "--password-stdin", "bob")
	checkSessionFile(t, alice.configDir, "alice", n.URL())

	// Room create, send, history.
	room := decodeOne[haetae.Room](t, alice.mustRun(ctx, "", "room", "create", "--json", "--title", "trip", "bob"))
	if room.ID == "" || room.Title != "trip" || !room.HasMember("alice") || !room.HasMember("bob") {
		t.Fatalf("room create printed %+v", room)
	}
	var sent []haetae.Message
	for i, text := range []string{"hello world", "second", "third"} {
		m := decodeOne[haetae.Message](t, alice.mustRun(ctx, "", "send", "--json", "--client-id", fmt.Sprintf("c%d", i), room.ID, text))
		if m.Text != text || m.From != "alice" || m.Room != room.ID || m.ClientID != fmt.Sprintf("c%d", i) {
			t.Fatalf("send printed %+v", m)
		}
		sent = append(sent, m)
	}
	if out := alice.mustRun(ctx, "", "send", "--client-id", "c1", room.ID, "second"); !strings.Contains(out, fmt.Sprintf("already sent as #%d", sent[1].Seq)) {
		t.Fatalf("repeated send printed %q", out)
	}
	if out := bob.mustRun(ctx, "", "send", room.ID, "--", "-5", "degrees"); !strings.Contains(out, "sent #") {
		t.Fatalf("send of a text starting with '-' printed %q", out)
	}

	t.Run("History", func(t *testing.T) {
		got := decodeLines[haetae.Message](t, bob.mustRun(ctx, "", "history", "--json", room.ID))
		if len(got) != 4 || got[0].Text != "hello world" || got[3].Text != "-5 degrees" || got[3].From != "bob" {
			t.Fatalf("history --json = %+v", got)
		}
		for i := range sent {
			if got[i].Seq != sent[i].Seq {
				t.Fatalf("history seq %d = %d, want %d", i, got[i].Seq, sent[i].Seq)
			}
		}
		// Flags after ROOM, as the usage shows them.
		got = decodeLines[haetae.Message](t, bob.mustRun(ctx, "", "history", room.ID, "--after", fmt.Sprint(sent[0].Seq), "--limit", "1", "--json"))
		if len(got) != 1 || got[0].Seq != sent[1].Seq {
			t.Fatalf("history --after %d --limit 1 = %+v", sent[0].Seq, got)
		}
		out := bob.mustRun(ctx, "", "history", room.ID)
		if !strings.Contains(out, fmt.Sprintf("#%d ", sent[0].Seq)) || !strings.Contains(out, "alice: hello world") {
			t.Fatalf("history printed\n%s", out)
		}
	})

	t.Run("Rooms", func(t *testing.T) {
		rooms := decodeLines[haetae.Room](t, bob.mustRun(ctx, "", "rooms", "--json"))
		// Sending marks the room read: bob sent the last message, alice has bob's one to read.
		if len(rooms) != 1 || rooms[0].ID != room.ID || rooms[0].Unread != 0 || rooms[0].LastSeq <= sent[2].Seq {
			t.Fatalf("bob's rooms --json = %+v", rooms)
		}
		if rooms := decodeLines[haetae.Room](t, alice.mustRun(ctx, "", "rooms", "--json")); len(rooms) != 1 || rooms[0].Unread != 1 {
			t.Fatalf("alice's rooms --json = %+v", rooms)
		}
		out := alice.mustRun(ctx, "", "rooms")
		if !strings.Contains(out, "ROOM") || !strings.Contains(out, room.ID) || !strings.Contains(out, "alice,bob") {
			t.Fatalf("rooms printed\n%s", out)
		}
	})

	t.Run("StoredServers", func(t *testing.T) {
		// Without --server the commands use the servers of the login.
		noServer := &cliUser{tb: t, configDir: alice.configDir}
		if rooms := decodeLines[haetae.Room](t, noServer.mustRun(ctx, "", "rooms", "--json")); len(rooms) != 1 {
			t.Fatalf("rooms with the stored servers = %+v", rooms)
		}
		// Failover: a dead node first in --server.
		failover := &cliUser{tb: t, configDir: alice.configDir, server: "http://127.0.0.1:1," + n.URL()}
		failover.mustRun(ctx, "", "send", room.ID, "through", "failover")
	})

	t.Run("RoomAdd", func(t *testing.T) {
		out := alice.mustRun(ctx, "", "room", "add", room.ID, "carol")
		if !strings.Contains(out, room.ID) || !strings.Contains(out, "carol") {
			t.Fatalf("room add printed %q", out)
		}
		alice.wantFail(ctx, 1, "haetae: user_not_found: ", "room", "add", room.ID, "nobody")
	})

	t.Run("Errors", func(t *testing.T) {
		alice.wantFail(ctx, 1, "haetae: not_found: no such room\n", "history", "nosuchroom")
		alice.wantFail(ctx, 2, "want ROOM and TEXT", "send", room.ID)
		alice.wantFail(ctx, 2, "want one ROOM", "history")
		alice.wantFail(ctx, 2, "unknown command", "room", "rename")
		alice.wantFail(ctx, 2, "flag provided but not defined", "history", room.ID, "--nope")
	})

	t.Run("Tail", func(t *testing.T) {
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var out, errOut syncBuffer
		done := make(chan int, 1)
		go func() {
			args := []string{"tail", room.ID, "--after", "0", "--json", "--config-dir", bob.configDir, "--server", n.URL()}
			done <- run(tctx, args, noEnv, strings.NewReader(""), &out, &errOut)
		}()
		before := len(decodeLines[haetae.Message](t, bob.mustRun(ctx, "", "history", "--json", "--limit", "500", room.ID)))
		testnode.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if got := len(decodeLines[haetae.Message](t, out.String())); got != before {
				return fmt.Errorf("tail printed %d messages, want the %d of the history; stderr %q", got, before, errOut.String())
			}
			return nil
		})
		live := decodeOne[haetae.Message](t, alice.mustRun(ctx, "", "send", "--json", room.ID, "live one"))
		testnode.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			got := decodeLines[haetae.Message](t, out.String())
			if len(got) != before+1 || got[before].Seq != live.Seq {
				return fmt.Errorf("tail printed %d messages, want %d ending with seq %d", len(got), before+1, live.Seq)
			}
			return nil
		})
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("tail exited %d after Ctrl-C; stderr %q", code, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("tail still running 10s after Ctrl-C")
		}
	})

	t.Run("TailFromNow", func(t *testing.T) {
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var out, errOut syncBuffer
		done := make(chan int, 1)
		go func() {
			args := []string{"tail", room.ID, "--config-dir", bob.configDir, "--server", n.URL()}
			done <- run(tctx, args, noEnv, strings.NewReader(""), &out, &errOut)
		}()
		// The tail may not follow yet when a message is sent, so keep sending until one shows.
		i := 0
		testnode.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
			i++
			alice.mustRun(ctx, "", "send", room.ID, fmt.Sprintf("now %d", i))
			if !strings.Contains(out.String(), "alice: now ") {
				return fmt.Errorf("tail printed %q", out.String())
			}
			return nil
		})
		if strings.Contains(out.String(), "hello world") {
			t.Fatalf("tail without --after printed old messages:\n%s", out.String())
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("tail exited %d; stderr %q", code, errOut.String())
		}
	})

	t.Run("TailForeignRoom", func(t *testing.T) {
		carol := newCLIUser(t, n.URL())
		carol.mustRun(ctx, testPassword+"\n", "login", "--password-stdin", "carol")
		other := decodeOne[haetae.Room](t, bob.mustRun(ctx, "", "room", "create", "--json"))
		carol.wantFail(ctx, 1, "haetae: not_found: ", "tail", other.ID, "--after", "0")
	})
}

// checkSessionFile checks what login stored and that only its owner can read it.
func checkSessionFile(tb testing.TB, dir, name, server string) {
	tb.Helper()
	path := filepath.Join(dir, "session.json")
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatalf("session file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		tb.Fatalf("session file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		tb.Fatalf("config dir: %v", err)
	}
	if di.Mode().Perm() != 0o700 {
		tb.Fatalf("config dir mode %v, want 0700", di.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read session: %v", err)
	}
	var s storedSession
	if err := json.Unmarshal(b, &s); err != nil {
		tb.Fatalf("session file: %v", err)
	}
	if s.Name != name || s.Token == "" || len(s.Servers) != 1 || s.Servers[0] != server || time.Until(s.ExpiresAt) <= 0 {
		tb.Fatalf("stored session = %+v, want %s's token on %s", s, name, server)
	}
}

func TestRootUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "SUBCOMMANDS"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"--help"}, 0, "SUBCOMMANDS"},
		{[]string{"serve", "--help"}, 0, "lazy-sync"},
		{[]string{"serve", "extra"}, 1, "serve takes no arguments"},
	} {
		var stdout, stderr syncBuffer
		code := run(testCtx(t), tc.args, noEnv, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("haetae %v: exit %d, want %d; stderr lacks %q:\n%s", tc.args, code, tc.code, tc.want, stderr.String())
		}
	}
}
