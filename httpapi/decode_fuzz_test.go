package httpapi

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/haetae/haetae"
)

// fuzzDecoder checks one request decoder on arbitrary bytes: it never panics, every refusal is a client
// error (4xx) with a message, and what it accepts survives a round trip unchanged.
func fuzzDecoder[T any](f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v T
		err := decodeJSON(b, &v)
		if err != nil {
			code := haetae.ErrorCode(err)
			if st := StatusOf(code); st < 400 || st >= 500 {
				t.Fatalf("decode error %v has status %d", err, st)
			}
			if haetae.ErrorMessage(err) == "" {
				t.Fatalf("decode error %v has no message", err)
			}
			return
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted value does not marshal: %v", err)
		}
		var w T
		if err := decodeJSON(again, &w); err != nil {
			t.Fatalf("re-encoded %s refused: %v", again, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip changed %#v into %#v", v, w)
		}
	})
}

func FuzzDecodeCredentials(f *testing.F) {
	fuzzDecoder[credentialsRequest](f, `{"name":"alice","password":"password1"}`, `{"name":1}`, `{"x":1}`, "\xff")
}

func FuzzDecodeCreateRoom(f *testing.F) {
	fuzzDecoder[createRoomRequest](f, `{"title":"t","members":["bob"]}`, `{"members":null}`, `{"members":[1]}`)
}

func FuzzDecodeAddMember(f *testing.F) {
	fuzzDecoder[addMemberRequest](f, `{"name":"bob"}`, `{"name":"bob"} {}`)
}

func FuzzDecodeSend(f *testing.F) {
	fuzzDecoder[sendRequest](f, `{"client_id":"a1","text":"hello"}`, `{"client_id":"a1","text":"\ud800"}`, `{"text":"가나다"}`)
}

func FuzzDecodeRead(f *testing.F) {
	fuzzDecoder[readRequest](f, `{"seq":1}`, `{"seq":-1}`, `{"seq":1e30}`, `{"seq":null}`)
}

func FuzzDecodeLiveFrame(f *testing.F) {
	fuzzDecoder[liveFrame](f, `{"type":"subscribe","room":"abc","after":3}`, `{"type":"typing","room":"x"}`, `{"after":"3"}`)
}
