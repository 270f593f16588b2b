package haetae_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haetae/haetae"
)

func TestNewGiftCode(t *testing.T) {
	cases := []struct {
		name string
		seed []byte
		want string
	}{
		{"all_zero_bits", make([]byte, 10), "0000-0000-0000-0000"},
		{"all_one_bits", bytes.Repeat([]byte{0xff}, 10), "ZZZZ-ZZZZ-ZZZZ-ZZZZ"},
		{"each_symbol_once_then_zeros", []byte{0x00, 0x44, 0x32, 0x14, 0xc7, 0x42, 0x54, 0xb6, 0x35, 0xcf}, "0123-4567-89AB-CDEF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := haetae.NewGiftCode(bytes.NewReader(c.seed))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("NewGiftCode(%x) = %s, want %s", c.seed, got, c.want)
			}
		})
	}
	t.Run("short_reader", func(t *testing.T) {
		if _, err := haetae.NewGiftCode(bytes.NewReader(make([]byte, 9))); err == nil {
			t.Fatal("a reader with 9 bytes gave a code: 80 bits need 10")
		}
	})
	t.Run("random_codes_differ_and_parse", func(t *testing.T) {
		seen := map[string]bool{}
		for range 1000 {
			c, err := haetae.NewGiftCode(nil)
			if err != nil {
				t.Fatal(err)
			}
			if seen[c] {
				t.Fatalf("code %s drawn twice in 1,000", c)
			}
			seen[c] = true
			if p, err := haetae.ParseGiftCode(c); err != nil || p != c {
				t.Fatalf("ParseGiftCode(%s) = %q, %v", c, p, err)
			}
			if strings.ContainsAny(c, "ILOU") {
				t.Fatalf("code %s holds a confusable letter", c)
			}
		}
	})
}

func TestParseGiftCode(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"canonical", "7K3M-Q9XA-2BCD-EF01", "7K3M-Q9XA-2BCD-EF01"},
		{"lower_case", "7k3m-q9xa-2bcd-ef01", "7K3M-Q9XA-2BCD-EF01"},
		{"no_dashes", "7K3MQ9XA2BCDEF01", "7K3M-Q9XA-2BCD-EF01"},
		{"dashes_anywhere", "7-K3MQ9XA2BC--DEF01", "7K3M-Q9XA-2BCD-EF01"},
		{"o_read_as_zero", "7K3M-Q9XA-2BCD-EFO1", "7K3M-Q9XA-2BCD-EF01"},
		{"i_and_l_read_as_one", "7K3M-Q9XA-2BCD-EF0I", "7K3M-Q9XA-2BCD-EF01"},
		{"lower_l_read_as_one", "7K3M-Q9XA-2BCD-EF0l", "7K3M-Q9XA-2BCD-EF01"},
		{"too_short", "7K3M-Q9XA-2BCD-EF0", ""},
		{"too_long", "7K3M-Q9XA-2BCD-EF012", ""},
		{"u_is_not_a_symbol", "7K3M-Q9XA-2BCD-EF0U", ""},
		{"punctuation", "7K3M-Q9XA-2BCD-EF0!", ""},
		{"space", "7K3M Q9XA 2BCD EF01", ""},
		{"empty", "", ""},
		{"path_traversal", "../../../../etc/pass", ""},
		{"subject_wildcard", "7K3M-Q9XA-2BCD-EF0*", ""},
		{"non_ascii", "7K3M-Q9XA-2BCD-EF0가", ""},
		{"huge", strings.Repeat("0", 1000), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := haetae.ParseGiftCode(c.in)
			if c.want == "" {
				if haetae.ErrorCode(err) != haetae.EInvalidCode {
					t.Fatalf("ParseGiftCode(%q) = %q, %v; want invalid_code", c.in, got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseGiftCode(%q) = %q, %v; want %s", c.in, got, err, c.want)
			}
		})
	}
}

func TestValidProduct(t *testing.T) {
	l := haetae.DefaultLimits
	cases := []struct {
		name, in string
		code     string
	}{
		{"plain", "Americano (tall)", ""},
		{"korean", "아메리카노", ""},
		{"at_limit", strings.Repeat("가", 100), ""},
		{"over_limit", strings.Repeat("가", 101), haetae.EInvalid},
		{"empty", "", haetae.EInvalid},
		{"blank", "   ", haetae.EInvalid},
		{"control_character", "a\nb", haetae.EInvalid},
		{"bad_utf8", "a\xffb", haetae.EInvalidUTF8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := haetae.ErrorCode(l.ValidProduct(c.in)); got != c.code {
				t.Fatalf("ValidProduct(%q) = %q, want %q", c.in, got, c.code)
			}
		})
	}
}

func TestDecideRedemption(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := t0.Add(time.Hour)
	issued := func() *haetae.Gift {
		return &haetae.Gift{Code: "7K3M-Q9XA-2BCD-EF01", ExpiresAt: t0.Add(24 * time.Hour)}
	}
	redeemed := func() *haetae.Gift {
		g := issued()
		g.RedeemedAt = &at
		g.Redemption = &haetae.Redemption{ID: "r1", Merchant: "cafe", DC: "dc2", Node: "dc2", Key: "k1"}
		return g
	}
	cases := []struct {
		name          string
		gift          *haetae.Gift
		merchant, key string
		now           time.Time
		want          haetae.RedeemAction
		code          string
	}{
		{"issued_is_redeemed", issued(), "cafe", "k1", t0, haetae.RedeemApply, ""},
		{"issued_just_before_expiry", issued(), "cafe", "k1", t0.Add(24*time.Hour - time.Nanosecond), haetae.RedeemApply, ""},
		{"expired_at_expiry", issued(), "cafe", "k1", t0.Add(24 * time.Hour), 0, haetae.EGone},
		{"same_key_replays", redeemed(), "cafe", "k1", t0.Add(2 * time.Hour), haetae.RedeemReplay, ""},
		{"same_key_replays_after_expiry", redeemed(), "cafe", "k1", t0.Add(48 * time.Hour), haetae.RedeemReplay, ""},
		{"other_key_same_merchant", redeemed(), "cafe", "k2", t0.Add(2 * time.Hour), 0, haetae.EAlreadyRedeemed},
		{"same_key_other_merchant", redeemed(), "bakery", "k1", t0.Add(2 * time.Hour), 0, haetae.EAlreadyRedeemed},
		{"redeemed_beats_expired", redeemed(), "bakery", "k9", t0.Add(48 * time.Hour), 0, haetae.EAlreadyRedeemed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := haetae.DecideRedemption(c.gift, c.merchant, c.key, c.now)
			if haetae.ErrorCode(err) != c.code || got != c.want {
				t.Fatalf("DecideRedemption = %v, %v; want %v, %q", got, err, c.want, c.code)
			}
			if c.code != haetae.EAlreadyRedeemed {
				return
			}
			var re *haetae.RedeemedError
			if !errors.As(err, &re) {
				t.Fatalf("already_redeemed without a *RedeemedError: %v", err)
			}
			if re.Redemption.Merchant != "cafe" || re.Redemption.ID != "r1" || re.Redemption.DC != "dc2" || !re.RedeemedAt.Equal(at) {
				t.Fatalf("already_redeemed names %+v", re)
			}
			if re.Redemption.Key != "" || strings.Contains(haetae.ErrorMessage(err), "k1") {
				t.Fatalf("already_redeemed reveals the winner's key: %v", err)
			}
		})
	}
}

func TestGiftStatusAt(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	g := &haetae.Gift{ExpiresAt: t0}
	cases := []struct {
		name string
		now  time.Time
		red  bool
		want string
	}{
		{"before_expiry", t0.Add(-time.Second), false, haetae.GiftIssued},
		{"at_expiry", t0, false, haetae.GiftExpired},
		{"redeemed_before_expiry", t0.Add(-time.Second), true, haetae.GiftRedeemed},
		{"redeemed_after_expiry", t0.Add(time.Hour), true, haetae.GiftRedeemed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gg := *g
			if c.red {
				gg.Redemption = &haetae.Redemption{ID: "r"}
			}
			if got := gg.StatusAt(c.now); got != c.want {
				t.Fatalf("StatusAt = %s, want %s", got, c.want)
			}
		})
	}
}
