package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
)

// chromeJoin joins demo over HTTP as another visitor and returns the ticket.
func chromeJoin(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/rooms/demo/tickets", "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var st struct {
		Ticket string `json:"ticket"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st.Ticket
}

func chromeState(t *testing.T, base, ticket string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/rooms/demo/tickets/" + ticket)
	require.NoError(t, err)
	defer resp.Body.Close()
	var st struct {
		State string `json:"state"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st.State
}

// The whole product in one process, as `go run ./cmd/waitroom` runs it: a
// visitor waits, is admitted, holds and books a seat, checks out, and the
// freed place goes to the next visitor in line.
func TestBrowserEndToEndWaitBookCheckOutAndTheNextVisitorGetsThePlace(t *testing.T) {
	m, base := chromeStandalone(t)
	// demo: capacity 5, batch 2; tick every second to keep the test short,
	// and hold the line still (paused) while it is set up.
	put := func(body string) {
		req, _ := http.NewRequest(http.MethodPut, base+"/api/admin/rooms/demo", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+m.AdminToken())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	put(`{"interval_ms":1000,"paused":true}`)

	for i := 0; i < 4; i++ { // four visitors ahead
		chromeJoin(t, base)
	}
	ctx := browsertest.Chromium(t, 60*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/rooms/demo"), chromedp.WaitVisible("#view-waiting")))
	requireSocketLive(t, ctx)
	position, err := chromedp.Run(ctx, chromedp.Text("#position"))
	require.NoError(t, err)
	require.Equal(t, "5", strings.TrimSpace(position))
	next := chromeJoin(t, base) // sixth: capacity 5 keeps them waiting
	put(`{"paused":false}`)

	// Admitted by the in-process admitter, the page goes on to booking.
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(`button.seat[data-seat="A1"]`)))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(loc, "/booking/demo"), loc)
	summary, err := chromedp.Run(ctx, chromedp.Text("#map-summary"))
	require.NoError(t, err)
	require.Contains(t, summary, "100 of 100 seats available")

	// Hold A1, confirm it.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`button.seat[data-seat="A1"]`),
		chromedp.WaitVisible(`#holds button[data-action="book"]`),
		chromedp.Click(`#holds button[data-action="book"]`),
		chromedp.WaitVisible(`#bookings button[data-action="cancel"]`),
	))
	booked, err := chromedp.Run(ctx, chromedp.Text("#bookings"))
	require.NoError(t, err)
	require.Contains(t, booked, "Seat A1")

	// The line is full until the checkout.
	time.Sleep(1500 * time.Millisecond)
	require.Equal(t, "waiting", chromeState(t, base, next), "capacity 5 is taken")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click("#checkout"), chromedp.WaitVisible("#checkout-yes"),
		chromedp.Click("#checkout-yes"), chromedp.WaitVisible("#view-done"),
	))
	done, err := chromedp.Run(ctx, chromedp.Text("#view-done"))
	require.NoError(t, err)
	require.Contains(t, done, "Seat A1")

	require.Eventually(t, func() bool { return chromeState(t, base, next) == "admitted" },
		5*time.Second, 100*time.Millisecond, "the freed place goes to the next visitor at the next tick")
}
