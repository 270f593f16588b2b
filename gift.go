package haetae

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Gift states. A gift is issued when sent, redeemed once a merchant redeemed it, and expired when its
// expiry passed unredeemed. Redeemed is final: it stays redeemed after the expiry too.
const (
	GiftIssued   = "issued"
	GiftRedeemed = "redeemed"
	GiftExpired  = "expired"
)

// RoleMerchant is the role of users who may redeem gifts. Roles are set when an account is made and
// never change.
const RoleMerchant = "merchant"

// Gift is a coupon one user sent another: the receiver shows its code to a merchant, who redeems it
// exactly once. Code is the secret that grants it; only the sender, the receiver and merchants may look
// it up.
type Gift struct {
	Code    string `json:"code"`
	Product string `json:"product"`
	From    string `json:"from"`
	To      string `json:"to"`
	// Room is the chat the gift message was posted in.
	Room      string    `json:"room"`
	Status    string    `json:"status"`
	SentAt    time.Time `json:"sent_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// RedeemedAt and Redemption are set once the gift is redeemed.
	RedeemedAt *time.Time  `json:"redeemed_at,omitempty"`
	Redemption *Redemption `json:"redemption,omitempty"`
}

// Redemption says who redeemed a gift and where: the merchant, and the data center and node whose API
// took the request.
type Redemption struct {
	ID       string `json:"id"`
	Merchant string `json:"merchant"`
	DC       string `json:"dc"`
	Node     string `json:"node"`
	// Key is the merchant's Idempotency-Key of the winning request: a repeat with it replays the answer.
	// It is never shown to anyone.
	Key string `json:"-"`
}

// Redeemed is the answer to a successful redemption, the same for the first request and every repeat
// of its Idempotency-Key.
type Redeemed struct {
	Code       string     `json:"code"`
	Status     string     `json:"status"`
	RedeemedAt time.Time  `json:"redeemed_at"`
	Redemption Redemption `json:"redemption"`
}

// GiftRequest is what a sender asks for. Room is optional: by default the gift message goes to the 1:1
// room of sender and receiver.
type GiftRequest struct {
	ClientID string `json:"client_id"`
	To       string `json:"to"`
	Product  string `json:"product"`
	Room     string `json:"room,omitempty"`
}

// GiftService sends, shows and redeems gifts, and keeps each redemption exactly once whatever fails. A
// gift that exists but is not the caller's (as sender or receiver) is not_found to anyone who is not a
// merchant, exactly as a code that does not exist, so codes cannot be probed.
type GiftService interface {
	// SendGift issues a gift and posts a gift message in the room. With the same ClientID a repeat by the
	// same sender returns the gift made first (created false); another body is idempotency_conflict.
	// Errors: invalid_client_id, invalid_name, invalid (product, sending to oneself, receiver not in the
	// room), user_not_found, not_found (room), too_many_rooms, idempotency_conflict, unavailable.
	SendGift(ctx context.Context, caller string, req GiftRequest) (gift *Gift, created bool, err error)
	// Gifts lists the gifts sent to or by the caller, the newest first, at most limit (0: the default).
	// Errors: invalid (limit).
	Gifts(ctx context.Context, caller string, limit int) ([]*Gift, error)
	// Gift returns one gift to its sender, its receiver or a merchant. Errors: invalid_code, not_found.
	Gift(ctx context.Context, caller, code string) (*Gift, error)
	// Redeem redeems a gift for a merchant. A repeat of the winning key returns the same answer. Errors:
	// forbidden (not a merchant), invalid (no key), invalid_client_id (bad key), invalid_code, not_found,
	// already_redeemed (with a [*RedeemedError]), idempotency_conflict (the key redeemed another gift),
	// expired, unavailable (the outcome is unknown: repeat with the same key).
	Redeem(ctx context.Context, merchant, code, key string) (*Redeemed, error)
}

// RedeemedError details an already_redeemed error: when, by whom and through which data center the
// gift was redeemed. It is the Err of the [*Error].
type RedeemedError struct {
	Code       string
	RedeemedAt time.Time
	Redemption Redemption
}

func (e *RedeemedError) Error() string {
	return fmt.Sprintf("gift %s was redeemed at %s by %s through %s", e.Code, e.RedeemedAt.Format(time.RFC3339), e.Redemption.Merchant, e.Redemption.Where())
}

// Where names the data center and node a redemption went through, for people.
func (r Redemption) Where() string {
	switch {
	case r.DC != "" && r.Node != "" && r.DC != r.Node:
		return "data center " + r.DC + ", node " + r.Node
	case r.DC != "":
		return "data center " + r.DC
	default:
		return "node " + r.Node
	}
}

// giftAlphabet is Crockford's base32: digits and capitals without I, L, O and U, so that a code read
// aloud or typed from a screen has no look-alikes.
const giftAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Gift codes are GiftCodeChars symbols of 5 bits, 80 random bits, written in groups of 4.
const (
	GiftCodeChars = 16
	giftCodeGroup = 4
)

// NewGiftCode draws a code from r (crypto/rand's reader when nil): 80 random bits as
// XXXX-XXXX-XXXX-XXXX in Crockford base32.
func NewGiftCode(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, GiftCodeChars*5/8)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("gift code: %w", err)
	}
	var sym [GiftCodeChars]byte
	var acc uint64
	bits, j := 0, 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sym[j] = giftAlphabet[(acc>>bits)&31]
			j++
		}
	}
	return formatGiftCode(string(sym[:])), nil
}

func formatGiftCode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += giftCodeGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i : i+giftCodeGroup])
	}
	return b.String()
}

// ParseGiftCode reads a code as people type it: lower case, without the dashes or with them anywhere,
// and with the look-alikes Crockford's base32 maps (O as 0, I and L as 1). It returns the canonical
// form XXXX-XXXX-XXXX-XXXX, or invalid_code: a malformed code cannot be anybody's, and saying so
// reveals nothing, since the format is public.
func ParseGiftCode(s string) (string, error) {
	if len(s) > 64 {
		return "", errInvalidCode()
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			continue
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		if strings.IndexByte(giftAlphabet, c) < 0 {
			return "", errInvalidCode()
		}
		out = append(out, c)
	}
	if len(out) != GiftCodeChars {
		return "", errInvalidCode()
	}
	return formatGiftCode(string(out)), nil
}

func errInvalidCode() error {
	return Errorf(EInvalidCode, "a gift code is %d characters of 0-9 and A-Z without I, L, O, U, such as 7K3M-Q9XA-2BCD-EF01", GiftCodeChars)
}

// ValidProduct checks a gift's product: 1–ProductMax characters, no control characters, not blank.
func (l Limits) ValidProduct(p string) error {
	n := utf8.RuneCountInString(p)
	if !utf8.ValidString(p) {
		return Errorf(EInvalidUTF8, "product is not valid UTF-8")
	}
	if n < 1 || n > l.ProductMax || strings.TrimSpace(p) == "" {
		return Errorf(EInvalid, "product is 1 to %d characters", l.ProductMax)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return Errorf(EInvalid, "product has no control characters")
		}
	}
	return nil
}

// StatusAt is the gift's status at now: redeemed once redeemed, else expired from ExpiresAt on.
func (g *Gift) StatusAt(now time.Time) string {
	switch {
	case g.Redemption != nil:
		return GiftRedeemed
	case !now.Before(g.ExpiresAt):
		return GiftExpired
	default:
		return GiftIssued
	}
}

// VisibleTo reports whether a user may see the gift: its sender, its receiver, or any merchant (who must
// look a code up before redeeming it).
func (g *Gift) VisibleTo(name, role string) bool {
	return name == g.From || name == g.To || role == RoleMerchant
}

// RedeemAction is what a redemption attempt does to a gift.
type RedeemAction int

const (
	// RedeemApply redeems the gift now.
	RedeemApply RedeemAction = iota + 1
	// RedeemReplay answers with the redemption already made by the same merchant and key.
	RedeemReplay
)

// DecideRedemption is the redemption rule: a redeemed gift stays redeemed, by whoever did it first; a
// repeat of the winning merchant's key replays its answer, even after the expiry; any other attempt on
// a redeemed gift is already_redeemed (naming the winner); an unredeemed gift past its expiry is
// expired; otherwise the attempt redeems it. Exactly-once itself is not decided here but by the store's
// compare-and-set: this rule is applied to the latest revision, and again whenever the write loses.
func DecideRedemption(g *Gift, merchant, key string, now time.Time) (RedeemAction, error) {
	if r := g.Redemption; r != nil {
		if r.Merchant == merchant && r.Key == key {
			return RedeemReplay, nil
		}
		at := time.Time{}
		if g.RedeemedAt != nil {
			at = *g.RedeemedAt
		}
		re := &RedeemedError{Code: g.Code, RedeemedAt: at, Redemption: *r}
		re.Redemption.Key = ""
		return 0, &Error{Code: EAlreadyRedeemed, Message: "already redeemed: " + re.Error(), Err: re}
	}
	if !now.Before(g.ExpiresAt) {
		return 0, Errorf(EGone, "gift %s expired at %s", g.Code, g.ExpiresAt.Format(time.RFC3339))
	}
	return RedeemApply, nil
}

// Redeemed returns the answer to the redemption the gift carries; nil if it has none.
func (g *Gift) Redeemed() *Redeemed {
	if g.Redemption == nil || g.RedeemedAt == nil {
		return nil
	}
	r := *g.Redemption
	r.Key = ""
	return &Redeemed{Code: g.Code, Status: GiftRedeemed, RedeemedAt: *g.RedeemedAt, Redemption: r}
}
