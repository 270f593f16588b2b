package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/haetae/haetae"
)

// Request bodies of the API. Each is decoded by [decodeBody] with unknown fields rejected.
type (
	credentialsRequest struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	createRoomRequest struct {
		Title   string   `json:"title"`
		Members []string `json:"members"`
	}
	addMemberRequest struct {
		Name string `json:"name"`
	}
	sendRequest struct {
		ClientID string `json:"client_id"`
		Text     string `json:"text"`
	}
	sendBatchRequest struct {
		Messages []haetae.SendItem `json:"messages"`
	}
	readRequest struct {
		Seq *uint64 `json:"seq"`
	}
	// liveFrame is a client frame on the WebSocket.
	liveFrame struct {
		Type  string `json:"type"`
		Room  string `json:"room"`
		After uint64 `json:"after"`
	}
)

// readBody reads at most max bytes of a request body; a longer one is too_large.
func readBody(r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, haetae.Errorf(haetae.EInvalid, "could not read the request body")
	}
	if int64(len(b)) > max {
		return nil, haetae.Errorf(haetae.ETooLarge, "the request body is larger than %d bytes", max)
	}
	return b, nil
}

// decodeJSON decodes exactly one JSON value into v. It rejects invalid UTF-8 (which encoding/json would
// silently replace), unknown fields, wrong types and trailing data, each with a message that names the
// problem.
func decodeJSON(b []byte, v any) error {
	if !utf8.Valid(b) {
		return haetae.Errorf(haetae.EInvalidUTF8, "the body is not valid UTF-8")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return haetae.Errorf(haetae.EInvalidJSON, "a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return haetae.Errorf(haetae.EInvalidJSON, "the body is not valid JSON")
		case errors.As(err, &typ):
			field := typ.Field
			if field == "" {
				return haetae.Errorf(haetae.EInvalidJSON, "the body must be a JSON object")
			}
			return haetae.Errorf(haetae.EInvalidJSON, "field %q must be a JSON %s", field, jsonKind(typ.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return haetae.Errorf(haetae.EUnknownField, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return haetae.Errorf(haetae.EInvalidJSON, "the body is not valid JSON")
		}
	}
	if dec.More() {
		return haetae.Errorf(haetae.EInvalidJSON, "the body holds more than one JSON value")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	case "bool":
		return "boolean"
	default:
		return "number (a whole number of range)"
	}
}

// decodeBody reads and decodes a request body with the server's size limit.
func (s *Server) decodeBody(r *http.Request, v any) error {
	b, err := readBody(r, s.Limits.BodyMax)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

// queryUint parses an optional non-negative integer query parameter.
func queryUint(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, haetae.Errorf(haetae.EInvalid, "query parameter %s must be a whole number ≥ 0", name)
	}
	return n, nil
}

func queryLimit(r *http.Request, max int) (int, error) {
	n, err := queryUint(r, "limit")
	if err != nil {
		return 0, err
	}
	if r.URL.Query().Has("limit") && (n < 1 || n > uint64(max)) {
		return 0, haetae.Errorf(haetae.EInvalid, "limit is 1 to %d", max)
	}
	return int(n), nil
}

func errRequired(field string) error {
	return haetae.Errorf(haetae.EInvalid, "field %q is required", field)
}
