package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/haetae/haetae"
)

// Status is the platform's state as the answering node sees it. It needs no token and no quorum.
func (c *Client) Status(ctx context.Context) (*haetae.Status, error) {
	var out haetae.Status
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/status"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Incidents returns the incident history, newest first, at most limit (1–1,000). It needs no token.
// Errors: invalid.
func (c *Client) Incidents(ctx context.Context, limit int) ([]*haetae.Incident, error) {
	var out struct {
		Incidents []*haetae.Incident `json:"incidents"`
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/incidents", query: q}, &out); err != nil {
		return nil, err
	}
	return out.Incidents, nil
}

// Incident returns one incident with the time each component was affected. Errors: not_found.
func (c *Client) Incident(ctx context.Context, id string) (*haetae.Incident, error) {
	var out haetae.Incident
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/incidents/" + url.PathEscape(id)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateIncident opens a person's incident; the client's token must be the admin token. A retry after
// an unanswered attempt may open it twice. Errors: invalid, unauthorized, forbidden, no_quorum.
func (c *Client) CreateIncident(ctx context.Context, n haetae.NewIncident) (*haetae.Incident, error) {
	var out haetae.Incident
	if _, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/incidents", body: jsonBody(n), auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddIncidentUpdate adds a person's update to an incident (admin token). Errors: not_found, invalid,
// conflict, unauthorized, forbidden, no_quorum.
func (c *Client) AddIncidentUpdate(ctx context.Context, id string, u haetae.NewUpdate) (*haetae.Incident, error) {
	var out haetae.Incident
	if _, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/incidents/" + url.PathEscape(id) + "/updates", body: jsonBody(u), auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddWebhook registers a subscriber to incident changes (admin token). Errors: invalid.
func (c *Client) AddWebhook(ctx context.Context, rawURL, secret string) (*haetae.Webhook, error) {
	var out haetae.Webhook
	body := jsonBody(struct {
		URL    string `json:"url"`
		Secret string `json:"secret"`
	}{rawURL, secret})
	if _, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/webhooks", body: body, auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Webhooks lists the subscribers, without their secrets (admin token).
func (c *Client) Webhooks(ctx context.Context) ([]*haetae.Webhook, error) {
	var out struct {
		Webhooks []*haetae.Webhook `json:"webhooks"`
	}
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/webhooks", auth: true}, &out); err != nil {
		return nil, err
	}
	return out.Webhooks, nil
}

// DeleteWebhook removes a subscriber (admin token). Errors: not_found.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	_, _, err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/webhooks/" + url.PathEscape(id), auth: true}, nil)
	return err
}
