package httpapi

import (
	"bytes"
	"math"
	"net/http"
	"strconv"

	"github.com/haetae/haetae"
)

func (s *Server) handleCreateMerchant(w http.ResponseWriter, r *http.Request) error {
	var req credentialsRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.Users.CreateMerchant(r.Context(), req.Name, req.Password); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name, "role": haetae.RoleMerchant})
	return nil
}

func (s *Server) handleSendGift(w http.ResponseWriter, r *http.Request) error {
	var req haetae.GiftRequest
	if err := s.decodeBody(r, &req); err != nil {
		return err
	}
	if req.ClientID == "" {
		if k := r.Header.Get("Idempotency-Key"); k != "" {
			req.ClientID = k
		} else {
			return errRequired("client_id")
		}
	}
	if req.To == "" {
		return errRequired("to")
	}
	g, created, err := s.Gifts.SendGift(r.Context(), caller(r), req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, g)
	return nil
}

func (s *Server) handleListGifts(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryLimit(r, s.Limits.GiftsMax)
	if err != nil {
		return err
	}
	gifts, err := s.Gifts.Gifts(r.Context(), caller(r), limit)
	if err != nil {
		return err
	}
	if gifts == nil {
		gifts = []*haetae.Gift{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"gifts": gifts})
	return nil
}

// handleGetGift shows one gift. Looking codes up shares the redemption limit's budget, so that a
// merchant (who may look up any code) cannot probe codes faster than it may redeem them.
func (s *Server) handleGetGift(w http.ResponseWriter, r *http.Request) error {
	if err := s.takeGiftAttempt(w, r); err != nil {
		return err
	}
	g, err := s.Gifts.Gift(r.Context(), caller(r), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

// handleRedeem redeems a gift. The body is optional; if there is one, it is an empty JSON object.
func (s *Server) handleRedeem(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(r, s.Limits.BodyMax)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := decodeJSON(b, &struct{}{}); err != nil {
			return err
		}
	}
	if err := s.takeGiftAttempt(w, r); err != nil {
		return err
	}
	res, err := s.Gifts.Redeem(r.Context(), caller(r), r.PathValue("code"), r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// takeGiftAttempt takes one attempt from the caller's budget of code lookups and redemptions on this
// node, or answers 429 with Retry-After.
func (s *Server) takeGiftAttempt(w http.ResponseWriter, r *http.Request) error {
	if wait, ok := s.redeems.allow(caller(r)); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return haetae.Errorf(haetae.ERateLimited, "too many gift lookups and redemptions; retry after %s", wait.Round(1e6))
	}
	return nil
}
