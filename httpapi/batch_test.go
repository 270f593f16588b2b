package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/haetae/haetae"
	"github.com/haetae/haetae/internal/testnode"
)

// batchAnswer is the body of POST /v1/rooms/{room}/messages/batch.
type batchAnswer struct {
	Results []struct {
		Status  int             `json:"status"`
		Message *haetae.Message `json:"message"`
		Error   *struct {
			Code string `json:"code"`
		} `json:"error"`
	} `json:"results"`
}

// TestSendBatch: a batch commits each item as a send of its own would — created, repeated, refused —
// in order and without one bad item failing the others; a batch that is not one changes nothing.
func TestSendBatch(t *testing.T) {
	n := testnode.MustStart(t, testnode.Config(t))
	base := n.URL()
	alice := testnode.MustUser(t, base, "alice")
	bob := testnode.MustUser(t, base, "bob")
	rm := mustRoom(t, base, alice)
	url := base + "/v1/rooms/" + rm.ID + "/messages/batch"
	mustSend(t, base, alice, rm.ID, "old", "sent alone before")

	items := []map[string]string{
		{"client_id": "b1", "text": "one"},
		{"client_id": "old", "text": "sent alone before"}, // a repeat: the original, 200
		{"client_id": "b2", "text": "  "},                 // invalid text
		{"client_id": "old", "text": "another text"},      // idempotency conflict
		{"client_id": "bad id!", "text": "x"},             // invalid client_id
		{"client_id": "b3", "text": "three"},
	}
	r := testnode.DoJSON(t, "POST", url, alice, map[string]any{"messages": items})
	if r.Status != 200 {
		t.Fatalf("batch: %d %s", r.Status, r.Body)
	}
	var got batchAnswer
	r.JSON(t, &got)
	want := []struct {
		status int
		code   string
	}{{201, ""}, {200, ""}, {400, haetae.EInvalidText}, {409, haetae.EIdempotencyConflict}, {400, haetae.EInvalidClientID}, {201, ""}}
	if len(got.Results) != len(want) {
		t.Fatalf("%d results for %d items: %s", len(got.Results), len(want), r.Body)
	}
	for i, w := range want {
		res := got.Results[i]
		code := ""
		if res.Error != nil {
			code = res.Error.Code
		}
		if res.Status != w.status || code != w.code || (w.code == "") != (res.Message != nil) {
			t.Errorf("item %d: %d %q, want %d %q (%s)", i, res.Status, code, w.status, w.code, r.Body)
		}
	}
	if a, b := got.Results[0].Message, got.Results[5].Message; a == nil || b == nil || a.Seq >= b.Seq || a.Text != "one" || b.ClientID != "b3" {
		t.Errorf("the committed items are out of order or wrong: %+v %+v", a, b)
	}
	// A repeat of the whole batch commits nothing new.
	again := testnode.DoJSON(t, "POST", url, alice, map[string]any{"messages": items[:1]})
	var rep batchAnswer
	again.JSON(t, &rep)
	if len(rep.Results) != 1 || rep.Results[0].Status != 200 || rep.Results[0].Message.Seq != got.Results[0].Message.Seq {
		t.Errorf("a repeated batch item: %s", again.Body)
	}

	many := make([]map[string]string, haetae.SendBatchMax+1)
	for i := range many {
		many[i] = map[string]string{"client_id": fmt.Sprint("x", i), "text": "x"}
	}
	for name, tc := range map[string]struct {
		token string
		body  any
		code  string
	}{
		"empty":         {alice, map[string]any{"messages": []any{}}, haetae.EInvalid},
		"missing":       {alice, map[string]any{}, haetae.EInvalid},
		"too_many":      {alice, map[string]any{"messages": many}, haetae.EInvalid},
		"unknown_field": {alice, map[string]any{"messages": items[:1], "extra": 1}, haetae.EUnknownField},
		"not_a_member":  {bob, map[string]any{"messages": []map[string]string{{"client_id": "z", "text": "z"}}}, haetae.ENotFound},
	} {
		t.Run(name, func(t *testing.T) {
			r := testnode.DoJSON(t, "POST", url, tc.token, tc.body)
			if r.Status < 400 || r.Status > 499 || r.ErrorCode() != tc.code {
				t.Fatalf("%d %s, want %s", r.Status, r.Body, tc.code)
			}
		})
	}
	var texts []string
	for _, m := range testnode.History(t, base, alice, rm.ID) {
		texts = append(texts, m.Text)
	}
	if got := strings.Join(texts, "|"); got != "sent alone before|one|three" {
		t.Fatalf("history after the batches: %s", got)
	}
}
