package haetae

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits are the size rules of the API. Every limit is configurable; DefaultLimits are the contract's.
type Limits struct {
	NameMin, NameMax int // user names, 3–32
	ClientIDMax      int // 1–64
	TextMax          int // Unicode characters, 1–4000
	TitleMax         int // room titles, in characters
	MembersMax       int // members of a room
	RoomsMax         int // rooms a user may be a member of
	PasswordMin      int
	PasswordMax      int // bytes; argon2 input is bounded so a huge password cannot cost memory
	BodyMax          int64
	HistoryDefault   int
	HistoryMax       int
	ProductMax       int // characters of a gift's product
	GiftsDefault     int // gifts listed when no limit is given
	GiftsMax         int // most gifts listed at once
}

// DefaultLimits are the limits written in the API contract.
var DefaultLimits = Limits{
	NameMin: 3, NameMax: 32,
	ClientIDMax: 64,
	TextMax:     4000,
	TitleMax:    100,
	MembersMax:  1000,
	RoomsMax:    1000,
	PasswordMin: 8, PasswordMax: 1024,
	BodyMax:        64 << 10,
	HistoryDefault: 50,
	HistoryMax:     500,
	ProductMax:     100,
	GiftsDefault:   100,
	GiftsMax:       500,
}

// ValidName checks a user name: NameMin–NameMax characters of [a-z0-9_.-].
func (l Limits) ValidName(name string) error {
	if len(name) < l.NameMin || len(name) > l.NameMax {
		return Errorf(EInvalidName, "a name is %d to %d characters of a-z, 0-9, '_', '.', '-'", l.NameMin, l.NameMax)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return Errorf(EInvalidName, "a name is %d to %d characters of a-z, 0-9, '_', '.', '-'", l.NameMin, l.NameMax)
		}
	}
	return nil
}

// ValidClientID checks a client-chosen idempotency id: 1–ClientIDMax characters of [A-Za-z0-9_-].
func (l Limits) ValidClientID(id string) error {
	if len(id) < 1 || len(id) > l.ClientIDMax {
		return Errorf(EInvalidClientID, "client_id is 1 to %d characters of A-Z, a-z, 0-9, '_', '-'", l.ClientIDMax)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return Errorf(EInvalidClientID, "client_id is 1 to %d characters of A-Z, a-z, 0-9, '_', '-'", l.ClientIDMax)
		}
	}
	return nil
}

// ValidText checks message text: valid UTF-8, 1–TextMax Unicode characters, not only white space.
func (l Limits) ValidText(text string) error {
	if !utf8.ValidString(text) {
		return Errorf(EInvalidUTF8, "text is not valid UTF-8")
	}
	n := utf8.RuneCountInString(text)
	if n < 1 || n > l.TextMax {
		return Errorf(EInvalidText, "text is 1 to %d characters", l.TextMax)
	}
	if strings.TrimFunc(text, unicode.IsSpace) == "" {
		return Errorf(EInvalidText, "text is not only white space")
	}
	return nil
}

// ValidTitle checks a room title: at most TitleMax characters, no control characters.
func (l Limits) ValidTitle(title string) error {
	if !utf8.ValidString(title) {
		return Errorf(EInvalidUTF8, "title is not valid UTF-8")
	}
	if utf8.RuneCountInString(title) > l.TitleMax {
		return Errorf(EInvalid, "a title is at most %d characters", l.TitleMax)
	}
	for _, r := range title {
		if r < 0x20 || r == 0x7f {
			return Errorf(EInvalid, "a title has no control characters")
		}
	}
	return nil
}

// ValidPassword checks a new password's length.
func (l Limits) ValidPassword(pw string) error {
	if len(pw) < l.PasswordMin {
		return Errorf(EWeakPassword, "a password has at least %d characters", l.PasswordMin)
	}
	if len(pw) > l.PasswordMax {
		return Errorf(EInvalid, "a password has at most %d bytes", l.PasswordMax)
	}
	return nil
}

// ValidRoomID checks the shape of a room id so that it can be used in a JetStream subject. A malformed id
// is reported as not_found: no room has it.
func ValidRoomID(id string) error {
	if len(id) < 1 || len(id) > 64 {
		return Errorf(ENotFound, "no such room")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return Errorf(ENotFound, "no such room")
		}
	}
	return nil
}
