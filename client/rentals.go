package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/haetae/haetae"
)

// CreateVehicle registers a vehicle and returns its token, which is shown only this once. It needs
// the admin token as the client's token. Errors: invalid, conflict (the id is registered), forbidden.
func (c *Client) CreateVehicle(ctx context.Context, id string) (*haetae.VehicleCredential, error) {
	body := jsonBody(struct {
		ID string `json:"id"`
	}{id})
	var out haetae.VehicleCredential
	if _, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/vehicles", body: body, auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReportVehicleEvent sends a vehicle's own report; the client's token must be the vehicle's. Every
// retry carries the same client_id, so a report is kept once; created is false when the platform had
// it already. Errors: vehicle_not_found, unauthorized, invalid, idempotency_conflict.
func (c *Client) ReportVehicleEvent(ctx context.Context, ev haetae.VehicleEvent) (*haetae.VehicleEvent, bool, error) {
	body := jsonBody(struct {
		ClientID string `json:"client_id"`
		Type     string `json:"type"`
		At       string `json:"at"`
	}{ev.ClientID, ev.Type, ev.At.Format(time.RFC3339Nano)})
	var out haetae.VehicleEvent
	status, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/vehicles/" + url.PathEscape(ev.Vehicle) + "/events", body: body, auth: true}, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// StartRental starts a ride of vehicle. Every retry carries the same clientID (a random one when
// empty), so a ride is started once; created is false when the platform had started it already.
// Errors: vehicle_not_found, vehicle_in_use, idempotency_conflict.
func (c *Client) StartRental(ctx context.Context, vehicle, clientID string) (*haetae.Rental, bool, error) {
	if clientID == "" {
		clientID = newClientID()
	}
	body := jsonBody(struct {
		ClientID string `json:"client_id"`
		Vehicle  string `json:"vehicle"`
	}{clientID, vehicle})
	var out haetae.Rental
	status, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/rentals", body: body, auth: true}, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// Rental returns one of the caller's rentals. Errors: not_found.
func (c *Client) Rental(ctx context.Context, id string) (*haetae.Rental, error) {
	var out haetae.Rental
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/rentals/" + url.PathEscape(id), auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rentals returns the caller's rentals, newest first, at most limit (0: the server's default).
func (c *Client) Rentals(ctx context.Context, limit int) ([]*haetae.Rental, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Rentals []*haetae.Rental `json:"rentals"`
	}
	if _, _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/rentals", query: v, auth: true}, &out); err != nil {
		return nil, err
	}
	return out.Rentals, nil
}

// ReturnRental ends the caller's ride and returns the rental with its fare; lockedAt, when set, says
// when the vehicle was locked (for a return the platform could not take at the time). Every retry
// carries the same clientID (a random one when empty). Errors: not_found, invalid,
// idempotency_conflict.
func (c *Client) ReturnRental(ctx context.Context, id, clientID string, lockedAt *time.Time) (*haetae.Rental, error) {
	if clientID == "" {
		clientID = newClientID()
	}
	req := struct {
		ClientID string  `json:"client_id"`
		LockedAt *string `json:"locked_at,omitempty"`
	}{ClientID: clientID}
	if lockedAt != nil {
		s := lockedAt.Format(time.RFC3339Nano)
		req.LockedAt = &s
	}
	var out haetae.Rental
	if _, _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/rentals/" + url.PathEscape(id) + "/return", body: jsonBody(req), auth: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
