// Package httpapi is waitroom's HTTP surface: the waiting-room API, the
// operator API, the booking API and the pages, on echo v4. Handlers are thin:
// they check input, call the domain packages and shape JSON. Every error
// leaves through ErrorHandler, the one place that turns domain errors into the
// status and code of docs/API.md.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/internal/gateway"
	"github.com/waitroom/waitroom/internal/pow"
	"github.com/waitroom/waitroom/internal/usertoken"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// Error is an error as docs/API.md shapes it:
// {"error":{"code":"<snake_case>","message":"<for a person>"}}.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// apiErr builds an *Error.
func apiErr(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Errors raised by the HTTP layer itself.
var (
	errInvalidBody   = apiErr(http.StatusBadRequest, "invalid_body", "The request body is not valid JSON of the expected shape.")
	errBodyTooLarge  = apiErr(http.StatusRequestEntityTooLarge, "body_too_large", "The request body is larger than 8 KiB.")
	errUnauthorized  = apiErr(http.StatusUnauthorized, "unauthorized", "A valid operator token is required.")
	errNotFound      = apiErr(http.StatusNotFound, "not_found", "There is nothing at this address.")
	errMethod        = apiErr(http.StatusMethodNotAllowed, "method_not_allowed", "This method is not allowed here.")
	errUnavailable   = apiErr(http.StatusServiceUnavailable, "unavailable", "The service is briefly unavailable; please retry.")
	errInternal      = apiErr(http.StatusInternalServerError, "internal", "Something went wrong on our side.")
	errShuttingDown  = apiErr(http.StatusServiceUnavailable, "unavailable", "This server is shutting down.")
	errUnsupportedCT = apiErr(http.StatusBadRequest, "invalid_body", "The request body must be application/json.") // docs/API.md: invalid_body is 400
	// The client went away before its answer (nginx's 499): nobody reads
	// it, and it is not our failure, so it is neither a 500 nor logged as one.
	errClientGone = apiErr(499, "client_closed_request", "The client closed the request before its answer.")
)

var errPowInvalid = apiErr(http.StatusForbidden, "pow_invalid", "The proof of work is wrong, expired or already used; solve a new challenge.")

// domainErrors maps the named errors of the domain packages (the line and
// the booking API's seats), first match wins.
var domainErrors = []struct {
	target error
	err    *Error
}{
	{queue.ErrInvalidRoom, apiErr(http.StatusBadRequest, "invalid_room", "A room id is 1–64 characters of a-z, 0-9 and '-'.")},
	{queue.ErrRoomNotFound, apiErr(http.StatusNotFound, "room_not_found", "There is no such room.")},
	{queue.ErrTicketNotFound, apiErr(http.StatusNotFound, "ticket_not_found", "This ticket holds no place in this room.")},
	{queue.ErrRoomClosed, apiErr(http.StatusForbidden, "room_closed", "This sale is closed to new visitors.")},
	{queue.ErrInvalidUser, apiErr(http.StatusUnauthorized, "invalid_user_token", "The user token's sub must be 1–128 bytes of UTF-8.")},
	{queue.ErrAdmissionEnded, apiErr(http.StatusUnauthorized, "admission_ended", "Your admission has ended; please join the line again.")},
	{queue.ErrUserRequired, apiErr(http.StatusUnauthorized, "user_required", "This sale needs you to be signed in at the site: come back through its link.")},
	{queue.ErrPowRequired, apiErr(http.StatusForbidden, "pow_required", "This join needs a solved proof of work (GET the room's challenge).")},
	{queue.ErrPowUsed, errPowInvalid},
	{pow.ErrInvalid, errPowInvalid},
	{usertoken.ErrInvalid, apiErr(http.StatusUnauthorized, "invalid_user_token", "The user token is not valid for this room.")},
	{usertoken.ErrKeysUnavailable, errUnavailable},
	{queue.ErrUnavailable, errUnavailable},
	{entrytoken.ErrWrongRoom, apiErr(http.StatusForbidden, "wrong_room", "This entry token is for another room.")},
	{entrytoken.ErrInvalidToken, apiErr(http.StatusUnauthorized, "invalid_token", "A valid entry token is required.")},
	{entrytoken.ErrKeysUnavailable, errUnavailable},
	{gateway.ErrAdmissionRequired, errAdmissionRequired},
	{gateway.ErrBadGateway, apiErr(http.StatusBadGateway, "bad_gateway", "The site behind the waiting room did not answer; please retry.")},
	{booking.ErrSeatNotFound, apiErr(http.StatusNotFound, "seat_not_found", "There is no such seat.")},
	{booking.ErrSeatUnavailable, apiErr(http.StatusConflict, "seat_unavailable", "This seat is already held or booked.")},
	{booking.ErrHoldRequired, apiErr(http.StatusConflict, "hold_required", "Hold the seat before booking it; your hold may have ended.")},
	{booking.ErrLimitReached, apiErr(http.StatusConflict, "limit_reached", "You already hold or booked as many seats as one visitor may.")},
	{booking.ErrBookingNotFound, apiErr(http.StatusNotFound, "booking_not_found", "You have no booking or hold on this seat.")},
	{booking.ErrInvalidSeat, apiErr(http.StatusBadRequest, "invalid_body", "A seat id is 1–16 characters of A-Z, a-z, 0-9 and '-'.")},
	{booking.ErrInvalidSeatMap, apiErr(http.StatusBadRequest, "invalid_body", "The seat map is not valid.")},
	{booking.ErrInvalidVisitor, apiErr(http.StatusUnauthorized, "invalid_token", "A valid entry token is required.")},
}

var errAdmissionRequired = apiErr(http.StatusForbidden, "admission_required", "This part of the site needs you to wait your turn in the waiting room first.")

// toAPIError finds the API error for err. Internal detail never reaches the
// response: unknown errors become a plain 500.
func toAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.Canceled) {
		return errClientGone
	}
	var ce *queue.ConfigError
	if errors.As(err, &ce) {
		return apiErr(http.StatusBadRequest, "invalid_config", "Config field "+ce.Field+" "+ce.Reason+".")
	}
	for _, m := range domainErrors {
		if errors.Is(err, m.target) {
			return m.err
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return errNotFound
		case http.StatusMethodNotAllowed:
			return errMethod
		case http.StatusRequestEntityTooLarge:
			return errBodyTooLarge
		case http.StatusUnsupportedMediaType:
			return errUnsupportedCT
		case http.StatusBadRequest:
			return errInvalidBody
		}
	}
	return errInternal
}

// ErrorHandler writes every error in the shape of docs/API.md and logs the ones
// that are ours (5xx) with their detail.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		ae := toAPIError(err)
		if ae.Status >= 500 {
			log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
				slog.String("request_id", requestID(c)), slog.String("route", c.Path()),
				slog.Int("status", ae.Status), slog.String("error", err.Error()))
		}
		if ae.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
		}
		body := map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(ae.Status)
			return
		}
		_ = c.JSON(ae.Status, body)
	}
}

// WriteError writes err as ErrorHandler does, for handlers outside echo
// (the gateway's proxy).
func WriteError(log *slog.Logger) func(w http.ResponseWriter, r *http.Request, err error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		ae := toAPIError(err)
		if ae.Status >= 500 {
			log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.Int("status", ae.Status), slog.String("error", err.Error()))
		}
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(ae.Status)
			return
		}
		writeRawError(w, ae)
	}
}
