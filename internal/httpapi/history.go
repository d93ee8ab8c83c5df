package httpapi

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/pkg/queue"
)

// historySteps are the steps GET /api/admin/rooms/{room}/history takes.
var historySteps = map[string]time.Duration{"10s": 10 * time.Second, "1m": time.Minute, "5m": 5 * time.Minute}

// defaultHistorySpan is how far back a history without since reaches.
const defaultHistorySpan = 2 * time.Hour

// historyCountsBody are the counts a history point and its summary share.
type historyCountsBody struct {
	Arrived   int64 `json:"arrived"`
	Admitted  int64 `json:"admitted"`
	Abandoned int64 `json:"abandoned"`
	Left      int64 `json:"left"`
	Ended     int64 `json:"ended"`
	NoShow    int64 `json:"no_show"`
}

type historyPointBody struct {
	T string `json:"t"`
	historyCountsBody
	Waiting     int64    `json:"waiting"`
	AdmittedNow int64    `json:"admitted_now"`
	WaitP50S    *float64 `json:"wait_p50_s"`
	WaitP95S    *float64 `json:"wait_p95_s"`
}

type historySummaryBody struct {
	historyCountsBody
	PeakWaiting int64    `json:"peak_waiting"`
	WaitP50S    *float64 `json:"wait_p50_s"`
	WaitP95S    *float64 `json:"wait_p95_s"`
}

type historyBody struct {
	Room    string             `json:"room"`
	StepS   int64              `json:"step_s"`
	Points  []historyPointBody `json:"points"`
	Summary historySummaryBody `json:"summary"`
}

// historyCSVHeader is the CSV's header line: the JSON point's fields, in order.
var historyCSVHeader = []string{"t", "arrived", "admitted", "abandoned", "left", "ended", "no_show",
	"waiting", "admitted_now", "wait_p50_s", "wait_p95_s"}

func errInvalidQuery(msg string) *Error { return apiErr(http.StatusBadRequest, "invalid_query", msg) }

// history serves GET /api/admin/rooms/{room}/history?since=&step= as JSON,
// or as CSV to a client that accepts text/csv.
func (a *Admin) history(c echo.Context) error {
	room := c.Param("room")
	if !queue.ValidRoomID(room) {
		return queue.ErrInvalidRoom
	}
	q := c.Request().URL.Query()
	step := time.Minute
	if s := q.Get("step"); q.Has("step") {
		d, ok := historySteps[s]
		if !ok {
			return errInvalidQuery("step must be one of 10s, 1m, 5m.")
		}
		step = d
	}
	since := time.Now().Add(-defaultHistorySpan)
	if s := q.Get("since"); q.Has("since") {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return errInvalidQuery("since must be an RFC 3339 time.")
		}
		since = t
	}
	h, err := a.Store.History(c.Request().Context(), room, since, step)
	if err != nil {
		return err
	}
	body := historyBody{Room: room, StepS: int64(step / time.Second), Points: make([]historyPointBody, len(h.Points))}
	for i, p := range h.Points {
		body.Points[i] = historyPointBody{T: p.T.Format(time.RFC3339), historyCountsBody: historyCountsBody(p.HistoryCounts),
			Waiting: p.Waiting, AdmittedNow: p.AdmittedNow, WaitP50S: p.WaitP50, WaitP95S: p.WaitP95}
	}
	s := h.Summary
	body.Summary = historySummaryBody{historyCountsBody: historyCountsBody(s.HistoryCounts),
		PeakWaiting: s.PeakWaiting, WaitP50S: s.WaitP50, WaitP95S: s.WaitP95}
	c.Response().Header().Add(echo.HeaderVary, echo.HeaderAccept)
	if acceptsCSV(c.Request().Header.Get(echo.HeaderAccept)) {
		return writeHistoryCSV(c, body)
	}
	return c.JSON(http.StatusOK, body)
}

// acceptsCSV reports whether an Accept header asks for text/csv (with a
// non-zero weight).
func acceptsCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		typ, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(typ), "text/csv") {
			continue
		}
		if w, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if f, err := strconv.ParseFloat(w, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}

func writeHistoryCSV(c echo.Context, body historyBody) error {
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	hdr.Set(echo.HeaderContentDisposition, `attachment; filename="`+body.Room+`-history.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write(historyCSVHeader)
	num := func(v int64) string { return strconv.FormatInt(v, 10) }
	opt := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	for _, p := range body.Points {
		_ = w.Write([]string{p.T, num(p.Arrived), num(p.Admitted), num(p.Abandoned), num(p.Left), num(p.Ended),
			num(p.NoShow), num(p.Waiting), num(p.AdmittedNow), opt(p.WaitP50S), opt(p.WaitP95S)})
	}
	w.Flush()
	return w.Error()
}
