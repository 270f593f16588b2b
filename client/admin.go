package client

import (
	"context"
	"net/http"
)

// DrainResult is a node's answer to a drain: the streams whose leadership it handed off.
type DrainResult struct {
	HandedOff []string `json:"handed_off"`
	TookMS    int64    `json:"took_ms"`
}

// Drain evacuates the node the client calls ahead of a planned shutdown: its stream leaders move to
// other data centers, its /readyz fails and its live clients move away. It needs the admin token as the
// client's token. Give the client only the node to drain: a drain must not fail over to another node.
// Errors: unauthorized, forbidden, unavailable.
func (c *Client) Drain(ctx context.Context) (*DrainResult, error) {
	var out DrainResult
	if _, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/admin/drain", auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
