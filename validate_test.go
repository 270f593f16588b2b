package haetae_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/haetae/haetae"
)

func TestValidate(t *testing.T) {
	l := haetae.DefaultLimits
	cases := []struct {
		name  string
		check func() error
		code  string // "" when valid
	}{
		{"name_ok", func() error { return l.ValidName("alice.kim-2_") }, ""},
		{"name_too_short", func() error { return l.ValidName("al") }, haetae.EInvalidName},
		{"name_too_long", func() error { return l.ValidName(strings.Repeat("a", 33)) }, haetae.EInvalidName},
		{"name_upper_case", func() error { return l.ValidName("Alice") }, haetae.EInvalidName},
		{"name_space", func() error { return l.ValidName("al ice") }, haetae.EInvalidName},
		{"name_hangul", func() error { return l.ValidName("해태해태") }, haetae.EInvalidName},
		{"client_id_ok", func() error { return l.ValidClientID("A-z_09") }, ""},
		{"client_id_empty", func() error { return l.ValidClientID("") }, haetae.EInvalidClientID},
		{"client_id_too_long", func() error { return l.ValidClientID(strings.Repeat("x", 65)) }, haetae.EInvalidClientID},
		{"client_id_dot", func() error { return l.ValidClientID("a.b") }, haetae.EInvalidClientID},
		{"text_ok", func() error { return l.ValidText("안녕하세요 👋") }, ""},
		{"text_max_characters", func() error { return l.ValidText(strings.Repeat("가", 4000)) }, ""},
		{"text_too_long", func() error { return l.ValidText(strings.Repeat("가", 4001)) }, haetae.EInvalidText},
		{"text_empty", func() error { return l.ValidText("") }, haetae.EInvalidText},
		{"text_blank", func() error { return l.ValidText(" \t\n") }, haetae.EInvalidText},
		{"text_bad_utf8", func() error { return l.ValidText("a\xffb") }, haetae.EInvalidUTF8},
		{"title_empty_ok", func() error { return l.ValidTitle("") }, ""},
		{"title_control", func() error { return l.ValidTitle("a\x07") }, haetae.EInvalid},
		{"title_too_long", func() error { return l.ValidTitle(strings.Repeat("t", 101)) }, haetae.EInvalid},
		{"password_ok", func() error { return l.ValidPassword("12345678") }, ""},
		{"password_weak", func() error { return l.ValidPassword("1234567") }, haetae.EWeakPassword},
		{"password_huge", func() error { return l.ValidPassword(strings.Repeat("p", 1025)) }, haetae.EInvalid},
		{"room_id_ok", func() error { return haetae.ValidRoomID("abc234") }, ""},
		{"room_id_path", func() error { return haetae.ValidRoomID("../x") }, haetae.ENotFound},
		{"room_id_subject_wildcard", func() error { return haetae.ValidRoomID("*") }, haetae.ENotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			if got := haetae.ErrorCode(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if err != nil && haetae.ErrorMessage(err) == "" {
				t.Fatal("an error without a message for the client")
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	wrapped := fmt.Errorf("layer: %w", haetae.Errorf(haetae.ENameTaken, "taken"))
	cases := []struct {
		name    string
		err     error
		code    string
		message string
	}{
		{"nil", nil, "", ""},
		{"application_error", haetae.Errorf(haetae.ENotFound, "no such room"), haetae.ENotFound, "no such room"},
		{"wrapped", wrapped, haetae.ENameTaken, "taken"},
		{"foreign_error_is_internal", errors.New("disk on fire"), haetae.EInternal, "internal error; it has been logged"},
		{"code_without_message", &haetae.Error{Code: haetae.EConflict}, haetae.EConflict, haetae.EConflict},
		{"internal_keeps_detail_private", &haetae.Error{Code: haetae.EInternal, Err: errors.New("secret path")}, haetae.EInternal, "internal error; it has been logged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := haetae.ErrorCode(tc.err); got != tc.code {
				t.Fatalf("ErrorCode = %q, want %q", got, tc.code)
			}
			if got := haetae.ErrorMessage(tc.err); got != tc.message {
				t.Fatalf("ErrorMessage = %q, want %q", got, tc.message)
			}
		})
	}
}
