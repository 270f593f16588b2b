package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/haetae/haetae"
)

// statusOf is the one table from error codes to HTTP statuses. A code missing here is a server fault.
var statusOf = map[string]int{
	haetae.EInvalid:             http.StatusBadRequest,
	haetae.EInvalidJSON:         http.StatusBadRequest,
	haetae.EUnknownField:        http.StatusBadRequest,
	haetae.EInvalidUTF8:         http.StatusBadRequest,
	haetae.EInvalidName:         http.StatusBadRequest,
	haetae.EInvalidClientID:     http.StatusBadRequest,
	haetae.EInvalidText:         http.StatusBadRequest,
	haetae.EWeakPassword:        http.StatusBadRequest,
	haetae.ETooManyMembers:      http.StatusBadRequest,
	haetae.ETooManyRooms:        http.StatusBadRequest,
	haetae.EInvalidCode:         http.StatusBadRequest,
	haetae.EUnauthorized:        http.StatusUnauthorized,
	haetae.EBadCredentials:      http.StatusUnauthorized,
	haetae.EForbidden:           http.StatusForbidden,
	haetae.ENotFound:            http.StatusNotFound,
	haetae.EUserNotFound:        http.StatusNotFound,
	haetae.EVehicleNotFound:     http.StatusNotFound,
	haetae.EMethodNotAllowed:    http.StatusMethodNotAllowed,
	haetae.ENameTaken:           http.StatusConflict,
	haetae.EIdempotencyConflict: http.StatusConflict,
	haetae.EConflict:            http.StatusConflict,
	haetae.EAlreadyRedeemed:     http.StatusConflict,
	haetae.EVehicleInUse:        http.StatusConflict,
	haetae.EGone:                http.StatusGone,
	haetae.ETooLarge:            http.StatusRequestEntityTooLarge,
	haetae.ERateLimited:         http.StatusTooManyRequests,
	haetae.EUnavailable:         http.StatusServiceUnavailable,
	haetae.ENoQuorum:            http.StatusServiceUnavailable,
	haetae.EOverloaded:          http.StatusServiceUnavailable,
	haetae.ESlowConsumer:        http.StatusServiceUnavailable,
	haetae.EInternal:            http.StatusInternalServerError,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// retryAfterSeconds is what a 503 asks clients to wait before retrying.
const retryAfterSeconds = 1

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RedeemedAt and Redemption name when and where a gift was redeemed, on already_redeemed.
	RedeemedAt *time.Time         `json:"redeemed_at,omitempty"`
	Redemption *haetae.Redemption `json:"redemption,omitempty"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := haetae.ErrorCode(err)
	status := StatusOf(code)
	// Shedding is counted in metrics, not logged per request; nor is work cut short because its client
	// left or its Haetae-Timeout passed, which a surge makes common.
	var gone *clientGone
	if status >= 500 && code != haetae.EOverloaded && r.Context().Err() == nil && !errors.As(err, &gone) {
		s.Logger.Error("request failed", "id", requestID(r), "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	detail := errorDetail{Code: code, Message: haetae.ErrorMessage(err)}
	var re *haetae.RedeemedError
	if errors.As(err, &re) {
		detail.RedeemedAt, detail.Redemption = &re.RedeemedAt, &re.Redemption
	}
	writeJSON(w, status, errorBody{detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"could not encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
