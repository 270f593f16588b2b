package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/haetae/haetae"
)

// CreateMerchant registers a merchant, a user who may redeem gifts. It needs the admin token as the
// client's token. Errors: unauthorized, forbidden, invalid_name, weak_password, name_taken.
func (c *Client) CreateMerchant(ctx context.Context, name, password string) error {
	_, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/merchants", body: jsonBody(credentials{name, password}), auth: true}, nil)
	return err
}

// SendGift sends a gift; req.Room may be empty for the 1:1 room of sender and receiver. Every retry
// carries the same client_id (a random one when req.ClientID is empty), so one gift is made however often
// the request is sent; created is false when the server already had it. Errors: invalid_client_id,
// invalid_name, invalid, user_not_found, not_found, idempotency_conflict.
func (c *Client) SendGift(ctx context.Context, req haetae.GiftRequest) (gift *haetae.Gift, created bool, err error) {
	if req.ClientID == "" {
		req.ClientID = newClientID()
	}
	var out haetae.Gift
	status, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/gifts", body: jsonBody(req), auth: true}, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// Gifts lists the gifts sent to or by the caller, the newest first; limit 0 is the server's default.
func (c *Client) Gifts(ctx context.Context, limit int) ([]*haetae.Gift, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Gifts []*haetae.Gift `json:"gifts"`
	}
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/gifts", query: v, auth: true}, &out); err != nil {
		return nil, err
	}
	return out.Gifts, nil
}

// Gift looks up one gift (its sender, its receiver, or a merchant). Errors: invalid_code, not_found.
func (c *Client) Gift(ctx context.Context, code string) (*haetae.Gift, error) {
	var out haetae.Gift
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/gifts/" + url.PathEscape(code), auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Redeem redeems a gift as a merchant. key is the redemption's Idempotency-Key: every attempt of this
// call carries it, on whichever node, so a lost answer costs a retry, never a second redemption; a
// caller that gives up may call Redeem again later with the same key and learn the outcome. An empty key
// is replaced by a random one (which only this call's own retries then share).
//
// Errors: already_redeemed (the error unwraps to a [*haetae.RedeemedError] naming the winner), expired,
// not_found, forbidden, invalid_code, idempotency_conflict, rate_limited, and unavailable when no node
// answered in time: then the outcome is unknown until a call with the same key is answered.
func (c *Client) Redeem(ctx context.Context, code, key string) (*haetae.Redeemed, error) {
	if key == "" {
		key = newClientID()
	}
	var out haetae.Redeemed
	h := http.Header{"Idempotency-Key": {key}}
	if _, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/gifts/" + url.PathEscape(code) + "/redeem", auth: true, header: h}, &out); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Redeemed != nil {
			ae.Redeemed.Code = code
		}
		return nil, err
	}
	return &out, nil
}
