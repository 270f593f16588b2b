package haetae

import (
	"errors"
	"fmt"
)

// Error codes. They are the API's error.code values; the HTTP adapter maps each to a status in one
// table. Append only: clients match on them.
const (
	EInvalid             = "invalid"              // 400: a request that breaks a rule
	EInvalidJSON         = "invalid_json"         // 400
	EUnknownField        = "unknown_field"        // 400
	EInvalidUTF8         = "invalid_utf8"         // 400
	EInvalidName         = "invalid_name"         // 400
	EInvalidClientID     = "invalid_client_id"    // 400
	EInvalidText         = "invalid_text"         // 400
	EWeakPassword        = "weak_password"        // 400
	ETooManyMembers      = "too_many_members"     // 400
	ETooManyRooms        = "too_many_rooms"       // 400: a user is in as many rooms as allowed
	EInvalidCode         = "invalid_code"         // 400: not the shape of a gift code
	EUnauthorized        = "unauthorized"         // 401
	EBadCredentials      = "bad_credentials"      // 401
	EForbidden           = "forbidden"            // 403
	ENotFound            = "not_found"            // 404
	EUserNotFound        = "user_not_found"       // 404
	EMethodNotAllowed    = "method_not_allowed"   // 405
	ENameTaken           = "name_taken"           // 409
	EIdempotencyConflict = "idempotency_conflict" // 409
	EConflict            = "conflict"             // 409
	EAlreadyRedeemed     = "already_redeemed"     // 409: the gift was redeemed, by another key
	EGone                = "expired"              // 410
	ETooLarge            = "too_large"            // 413
	ERateLimited         = "rate_limited"         // 429
	EUnavailable         = "unavailable"          // 503: the store did not answer in time
	ENoQuorum            = "no_quorum"            // 503
	EOverloaded          = "overloaded"           // 503
	EInternal            = "internal"             // 500: a fault of ours, never of the request
)

// Error is the one error type of the application. Code is for machines, Message for people (it is sent
// to the client, so it never carries internal detail); Op and Err are for logs.
type Error struct {
	Code    string
	Op      string
	Message string
	Err     error
}

func (e *Error) Error() string {
	s := e.Code
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a code and a message for the client.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil and EInternal for anything
// else, so unknown failures are never shown as the client's fault.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case !errors.As(err, &e) || e.Code == EInternal && e.Message == "":
		return "internal error; it has been logged"
	case e.Message != "":
		return e.Message
	default:
		return e.Code
	}
}
