package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

// screenshot saves the page to $BOOKING_SCREENSHOTS/<name>.png when that
// variable names a directory, for a person to look at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("BOOKING_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	require.NoError(t, err)
	return s
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(sel)+`).getAttribute(`+jsString(name)+`) || ""`))
	require.NoError(t, err)
	return v
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func seatAttr(t *testing.T, ctx context.Context, seat, name string) string {
	return attr(t, ctx, `button.seat[data-seat="`+seat+`"]`, name)
}

// handOver opens the booking page as the waiting page sends an admitted
// visitor there: the entry token in the fragment. The blank page first
// makes it a fresh load even when only the fragment differs.
func handOver(base, room, token string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/booking/"+room+"#wr_entry="+token))
}

// A visitor with the entry token the waiting page hands over sees the seat
// map, holds a seat, books it, holds another and checks out; without a
// token, or after the admission ended, the page says so and links back to
// the line.
func TestBrowserVisitorHoldsBooksAndChecksOut(t *testing.T) {
	s := serve(t, nil)
	s.room(t, "show", `{"seats":["A1","A2","A3","A4","A5","A6","B1","B2","B3","B4","B5","B6","C1","C2","C3","C4","C5","C6"]}`)
	_, bob := s.admit(t, "show", "bob")
	require.Equal(t, 201, s.do(t, "POST", "/api/events/show/holds", bob, `{"seat":"B3"}`).StatusCode)
	require.Equal(t, 201, s.do(t, "POST", "/api/events/show/holds", bob, `{"seat":"C5"}`).StatusCode)
	require.Equal(t, 201, s.do(t, "POST", "/api/events/show/bookings", bob, `{"seat":"C5"}`).StatusCode)
	annTicket, ann := s.admit(t, "show", "ann")

	ctx := browsertest.Chromium(t, 90*time.Second, chromedp.WindowSize(1100, 900))

	// No entry pass yet: the page sends the visitor to the line.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.base+"/booking/show"), chromedp.WaitVisible("#view-ended")))
	require.Contains(t, text(t, ctx, "#ended-title"), "go through the line")
	require.Equal(t, "/rooms/show", attr(t, ctx, "#back-to-line", "href"))

	require.NoError(t, chromedp.Do(ctx, handOver(s.base, "show", ann), chromedp.WaitVisible(`button.seat[data-seat="A1"]`)))
	where, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "|" + document.cookie`))
	require.NoError(t, err)
	require.Equal(t, s.base+"/booking/show|", where, "the token left the address bar and sits in no cookie")
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(`button.seat[data-seat="A1"]`)),
		"a reload keeps the tab's token")
	require.Equal(t, "available", seatAttr(t, ctx, "A1", "data-state"))
	require.Equal(t, "held", seatAttr(t, ctx, "B3", "data-state"))
	require.Equal(t, "booked", seatAttr(t, ctx, "C5", "data-state"))
	disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('button.seat[data-seat="C5"]').disabled`))
	require.NoError(t, err)
	require.True(t, disabled, "others' seats cannot be chosen")
	b3, err := chromedp.Run(ctx, chromedp.TextContent(`button.seat[data-seat="B3"]`))
	require.NoError(t, err)
	require.Equal(t, "Seat B3: held by someone else", b3, "the seat's name: its number shown, the rest for screen readers")
	require.Regexp(t, `^\d+:\d\d$`, strings.TrimSpace(text(t, ctx, "#admission-left")), "the admission counts down")
	require.Contains(t, text(t, ctx, "#map-summary"), "16 of 18 seats available")
	screenshot(t, ctx, "1-map")

	// Hold A2: it shows as mine, with its time left.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`button.seat[data-seat="A2"]`),
		chromedp.WaitVisible(`#holds button[data-action="book"]`)))
	require.Equal(t, "held", seatAttr(t, ctx, "A2", "data-state"))
	require.Equal(t, "true", seatAttr(t, ctx, "A2", "data-mine"))
	require.Eventually(t, func() bool { return strings.Contains(text(t, ctx, "#holds .hold-left"), "Held for 4:") },
		3*time.Second, 100*time.Millisecond, "the hold counts down from five minutes")
	screenshot(t, ctx, "2-held")

	// Confirm it.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`#holds button[data-action="book"]`),
		chromedp.WaitVisible(`#bookings button[data-action="cancel"]`)))
	require.Equal(t, "booked", seatAttr(t, ctx, "A2", "data-state"))
	require.Contains(t, text(t, ctx, "#bookings"), "Seat A2")

	// Hold another, then check out: the booking stays, the hold goes, and
	// the admission ends.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`button.seat[data-seat="A3"]`),
		chromedp.WaitVisible(`#holds button[data-action="book"]`)))
	screenshot(t, ctx, "3-basket")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#checkout"), chromedp.WaitVisible("#checkout-yes")))
	screenshot(t, ctx, "4-confirm")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click("#checkout-yes"), chromedp.WaitVisible("#view-done")))
	require.Contains(t, text(t, ctx, "#view-done"), "Seat A2")
	screenshot(t, ctx, "5-done")
	_, err = s.queue.LiveAdmission(context.Background(), "show", testproc.Claims(t, ann).ID)
	require.ErrorIs(t, err, queue.ErrAdmissionEnded, "checkout ended the admission")
	_ = annTicket
	res := s.do(t, "GET", "/api/events/show/seats", bob, "")
	require.Equal(t, 200, res.StatusCode)

	// The page dropped the spent token: a reload sends the visitor to the line.
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#view-ended")))
	require.Contains(t, text(t, ctx, "#ended-title"), "go through the line")

	// A token whose admission ended elsewhere (the visitor left the line).
	cidTicket, cid := s.admit(t, "show", "cid")
	require.NoError(t, s.queue.Leave(context.Background(), "show", cidTicket))
	require.NoError(t, chromedp.Do(ctx, handOver(s.base, "show", cid), chromedp.WaitVisible("#view-ended")))
	require.Equal(t, "Your admission has ended", text(t, ctx, "#ended-title"))
	require.Equal(t, "/rooms/show", attr(t, ctx, "#back-to-line", "href"))
	screenshot(t, ctx, "6-ended")
}

// At phone width the page still shows the map and the basket.
func TestBrowserBookingPageFitsAPhone(t *testing.T) {
	s := serve(t, nil)
	s.room(t, "tiny", `{"seats":["A1","A2","A3","A4","A5","A6","A7","A8","A9","A10","A11","A12"]}`)
	_, tok := s.admit(t, "tiny", "ann")
	ctx := browsertest.Chromium(t, 90*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.base+"/booking/tiny"), chromedp.WaitVisible("#view-ended")))
	require.NoError(t, chromedp.Do(ctx, handOver(s.base, "tiny", tok), chromedp.WaitVisible(`button.seat[data-seat="A12"]`),
		chromedp.Click(`button.seat[data-seat="A12"]`), chromedp.WaitVisible(`#holds button[data-action="book"]`)))
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	require.NoError(t, err)
	require.False(t, overflow, "no sideways scrolling")
	screenshot(t, ctx, "7-phone")
}
