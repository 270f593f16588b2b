package webapp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/haetae/haetae/internal/testnode"
)

// mustBrowser starts headless Chromium from Debian's packages. Without it the test is skipped on a
// developer's machine and fails in CI, where scripts/test.sh installs it.
func mustBrowser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is not installed; scripts/test.sh installs it from Debian's packages")
		}
		t.Skip("Chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Flag("headless", "new"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })
	return ctx
}

// messagesShown returns the texts of the open room's committed messages, in the page's order.
func messagesShown(ctx context.Context) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#messages li[data-seq]")).map(li => li.querySelector(".text").textContent)`))
}

// waitShown polls the page until it shows want, in order.
func waitShown(t *testing.T, ctx context.Context, want ...string) {
	t.Helper()
	testnode.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		got, err := messagesShown(ctx)
		if err != nil {
			return err
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Errorf("the page shows %q, want %q", got, want)
		}
		return nil
	})
}

// TestWebPageChatsAndFailsOver drives the real page in a real browser against a real three-node
// cluster: log in, create a room, send, receive live, then lose the node the page came from and carry
// on through the others with nothing missing and nothing twice.
func TestWebPageChatsAndFailsOver(t *testing.T) {
	ctx := mustBrowser(t)
	c := testnode.MustCluster(t, 3)
	base := c.Nodes[0].URL()
	testnode.MustUser(t, base, "alice")
	bob := testnode.MustUser(t, c.Nodes[2].URL(), "bob")

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"), // redirects to /app/
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.ID("name"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "password-alice"),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("new-room")),
		chromedp.SendKeys(chromedp.ID("room-title"), "lunch"),
		chromedp.SendKeys(chromedp.ID("room-members"), "bob"),
		chromedp.Click(chromedp.ID("create-room")),
		chromedp.WaitVisible(chromedp.ID("send-form")),
		chromedp.SendKeys(chromedp.ID("text"), "hello bob"),
		chromedp.Click(chromedp.ID("send")),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitShown(t, ctx, "hello bob")

	var room struct {
		Rooms []struct{ ID string }
	}
	testnode.Do(t, "GET", c.Nodes[2].URL()+"/v1/rooms", bob, nil).JSON(t, &room)
	if len(room.Rooms) != 1 {
		t.Fatalf("bob is in %d rooms, want the one alice made", len(room.Rooms))
	}
	id := room.Rooms[0].ID
	bobSays := func(node int, clientID, text string) {
		t.Helper()
		r := testnode.DoJSON(t, "POST", c.Nodes[node].URL()+"/v1/rooms/"+id+"/messages", bob, map[string]string{"client_id": clientID, "text": text})
		if r.Status != 201 {
			t.Fatalf("bob's send: %d %s", r.Status, r.Body)
		}
	}
	bobSays(2, "b1", "hi alice")
	waitShown(t, ctx, "hello bob", "hi alice")

	// The node the page was loaded from goes away; the page carries on through the nodes it learned.
	c.Stop(0)
	bobSays(1, "b2", "are you still there?")
	waitShown(t, ctx, "hello bob", "hi alice", "are you still there?")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("text"), "still here"), chromedp.Click(chromedp.ID("send"))); err != nil {
		t.Fatal(err)
	}
	waitShown(t, ctx, "hello bob", "hi alice", "are you still there?", "still here")

	if path := os.Getenv("HAETAE_WEBAPP_SCREENSHOT"); path != "" {
		// For docs/: HAETAE_WEBAPP_SCREENSHOT=$PWD/docs/web-page.png go test -run WebPage ./webapp
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// History is read from a replica, which may be a moment behind (Haetae-Max-Staleness): poll.
	testnode.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		var texts []string
		for _, m := range testnode.History(t, c.Nodes[1].URL(), bob, id) {
			texts = append(texts, m.Text)
		}
		if got := strings.Join(texts, "|"); got != "hello bob|hi alice|are you still there?|still here" {
			return fmt.Errorf("the room's history is %q", got)
		}
		return nil
	})
}
