package httpapi

import (
	"net/http"
	"time"

	"github.com/haetae/haetae"
)

// Request bodies of the rental routes, decoded by [decodeBody] with unknown fields rejected. Times
// are strings parsed here, so that a bad one is reported as such and not as invalid JSON.
type (
	createVehicleRequest struct {
		ID string `json:"id"`
	}
	vehicleEventRequest struct {
		ClientID string `json:"client_id"`
		Type     string `json:"type"`
		At       string `json:"at"`
	}
	createRentalRequest struct {
		ClientID string `json:"client_id"`
		Vehicle  string `json:"vehicle"`
	}
	returnRentalRequest struct {
		ClientID string  `json:"client_id"`
		LockedAt *string `json:"locked_at"`
	}
)

// rentalsListMax bounds GET /v1/rentals?limit=; rentalsListDefault is its default.
const (
	rentalsListDefault = 50
	rentalsListMax     = 500
)

// parseTime reads an RFC 3339 time with its offset, as the API's conventions write times.
func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, haetae.Errorf(haetae.EInvalid, "%s must be an RFC 3339 time with an offset, such as 2026-03-02T10:07:00+09:00", field)
	}
	return t, nil
}

// clientIDOf is the body's client_id, or else the Idempotency-Key header, which the conventions let
// stand in for it.
func clientIDOf(r *http.Request, fromBody string) (string, error) {
	if fromBody != "" {
		return fromBody, nil
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		return k, nil
	}
	return "", errRequired("client_id")
}

func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Server) handleCreateVehicle(w http.ResponseWriter, r *http.Request) error {
	var req createVehicleRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		return errRequired("id")
	}
	cred, err := s.Rentals.CreateVehicle(r.Context(), req.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, cred)
	return nil
}

// handleVehicleEvent keeps a vehicle's own report. It authenticates the vehicle's token, not a
// user's session.
func (s *Server) handleVehicleEvent(w http.ResponseWriter, r *http.Request) error {
	var req vehicleEventRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	ev := haetae.VehicleEvent{Vehicle: r.PathValue("vehicle"), Type: req.Type}
	var err error
	if ev.ClientID, err = clientIDOf(r, req.ClientID); err != nil {
		return err
	}
	if req.Type == "" {
		return errRequired("type")
	}
	if req.At == "" {
		return errRequired("at")
	}
	if ev.At, err = parseTime("at", req.At); err != nil {
		return err
	}
	kept, created, err := s.Rentals.ReportVehicleEvent(r.Context(), bearer(r), ev)
	if err != nil {
		return err
	}
	writeJSON(w, createdStatus(created), kept)
	return nil
}

func (s *Server) handleCreateRental(w http.ResponseWriter, r *http.Request) error {
	var req createRentalRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	clientID, err := clientIDOf(r, req.ClientID)
	if err != nil {
		return err
	}
	if req.Vehicle == "" {
		return errRequired("vehicle")
	}
	rental, created, err := s.Rentals.StartRental(r.Context(), caller(r), clientID, req.Vehicle)
	if err != nil {
		return err
	}
	writeJSON(w, createdStatus(created), rental)
	return nil
}

func (s *Server) handleGetRental(w http.ResponseWriter, r *http.Request) error {
	rental, err := s.Rentals.Rental(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rental)
	return nil
}

func (s *Server) handleListRentals(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryLimit(r, rentalsListMax)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = rentalsListDefault
	}
	rentals, err := s.Rentals.Rentals(r.Context(), caller(r), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"rentals": rentals})
	return nil
}

func (s *Server) handleReturnRental(w http.ResponseWriter, r *http.Request) error {
	var req returnRentalRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	clientID, err := clientIDOf(r, req.ClientID)
	if err != nil {
		return err
	}
	var lockedAt *time.Time
	if req.LockedAt != nil {
		t, err := parseTime("locked_at", *req.LockedAt)
		if err != nil {
			return err
		}
		lockedAt = &t
	}
	rental, err := s.Rentals.ReturnRental(r.Context(), caller(r), r.PathValue("id"), clientID, lockedAt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rental)
	return nil
}
