package client

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/haetae/haetae"
)

// APIError is an error answered by a server: its HTTP status and the API's error code and message.
// Status is 0 when the error came in a WebSocket error frame. It unwraps to a [haetae.Error] with the
// same code and message, so [haetae.ErrorCode] works on every error the client returns.
type APIError struct {
	Status  int
	Code    string
	Message string
	// Redeemed details an already_redeemed error: when, by whom and where the gift was redeemed.
	Redeemed *haetae.RedeemedError
}

// Error reads "code: message", as the CLI prints it.
func (e *APIError) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the error as the domain's [haetae.Error], which wraps the [*haetae.RedeemedError] of
// an already_redeemed error.
func (e *APIError) Unwrap() error {
	he := &haetae.Error{Code: e.Code, Message: e.Message}
	if e.Redeemed != nil {
		he.Err = e.Redeemed
	}
	return he
}

// errorBody is the API's error response: {"error":{"code","message"}}.
type errorBody struct {
	Error *struct {
		Code       string             `json:"code"`
		Message    string             `json:"message"`
		RedeemedAt *time.Time         `json:"redeemed_at"`
		Redemption *haetae.Redemption `json:"redemption"`
	} `json:"error"`
}

// readAPIError decodes an error response. A body that is not the API's (a proxy's HTML page, say) still
// gives an error with a code that says what the status means.
func readAPIError(resp *http.Response) *APIError {
	e := &APIError{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body errorBody
	if json.Unmarshal(b, &body) == nil && body.Error != nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		if be := body.Error; be.RedeemedAt != nil && be.Redemption != nil {
			e.Redeemed = &haetae.RedeemedError{RedeemedAt: *be.RedeemedAt, Redemption: *be.Redemption}
		}
		return e
	}
	e.Code = codeOfStatus(resp.StatusCode)
	e.Message = strings.ToLower(http.StatusText(resp.StatusCode))
	if e.Message == "" {
		e.Message = "unexpected HTTP status " + resp.Status
	}
	return e
}

// codeOfStatus guesses an error code for a response that carried none.
func codeOfStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return haetae.EUnauthorized
	case status == http.StatusForbidden:
		return haetae.EForbidden
	case status == http.StatusNotFound:
		return haetae.ENotFound
	case status == http.StatusMethodNotAllowed:
		return haetae.EMethodNotAllowed
	case status == http.StatusConflict:
		return haetae.EConflict
	case status == http.StatusGone:
		return haetae.EGone
	case status == http.StatusRequestEntityTooLarge:
		return haetae.ETooLarge
	case status == http.StatusTooManyRequests:
		return haetae.ERateLimited
	case status == http.StatusBadGateway, status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
		return haetae.EUnavailable
	case status >= 400 && status < 500:
		return haetae.EInvalid
	default:
		return haetae.EInternal
	}
}
