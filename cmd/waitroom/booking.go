package main

import (
	"context"
	"fmt"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/booking"
	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/ratelimit"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// demoSeats is the demo room's seat map: 10 rows of 10 (A1…J10).
var demoSeats = booking.GridSeats(10, 10)

// registerBooking serves the booking API and page in the same process
// (standalone), verifying entry tokens against this process's own signer
// without an HTTP round trip, and gives demo its seats. The seat-map route
// goes on operator, the echo of the operator's routes.
func (m *Main) registerBooking(ctx context.Context, e, operator *echo.Echo, rdb redis.UniversalClient, store *queue.Store,
	signer *entrytoken.Signer, admin *httpapi.Admin, met *metrics.Metrics) error {
	seats, err := booking.New(rdb, booking.Options{HoldTTL: m.cfg.BookingHold, MaxPerVisitor: m.cfg.BookingLimit})
	if err != nil {
		return fmt.Errorf("booking: %w", err)
	}
	verifier, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil },
		Issuer:    m.cfg.Issuer,
		Audience:  m.cfg.Audience,
	})
	if err != nil {
		return fmt.Errorf("booking verifier: %w", err)
	}
	(&httpapi.Booking{Seats: seats, Queue: store, Verifier: verifier, Logger: m.log, Metrics: met,
		Limit: ratelimit.New(m.cfg.BookingRate, m.cfg.BookingBurst, nil), Operator: operator}).Register(e, admin.RequireToken)
	if _, err := seats.PutSeatMap(ctx, "demo", demoSeats); err != nil {
		return fmt.Errorf("demo seats: %w", err)
	}
	return nil
}
