package httpapi

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/internal/metrics"
)

// Instrument counts every request by route pattern, method and status, with
// its latency, and serves the metrics at GET /metrics.
func Instrument(e *echo.Echo, m *metrics.Metrics) {
	CountRequests(e, m)
	e.GET("/metrics", echo.WrapHandler(m.Handler()))
}

// CountRequests counts every request as Instrument does, without serving
// the metrics (they are served on the operator's listener).
func CountRequests(e *echo.Echo, m *metrics.Metrics) {
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			status := servedStatus(c, err)
			route := c.Path()
			if route == "" {
				route = "unmatched" // keeps label values bounded under path scans
			}
			s := series.of(m, route, c.Request().Method, status)
			s.count.Inc()
			s.took.Observe(time.Since(start).Seconds())
			return err
		}
	})
}

// requestSeries caches the metrics of each route, method and status, so a
// request costs one map lookup, not two label hashings.
type requestSeries struct{ m sync.Map } // seriesKey -> *seriesOf

type seriesKey struct {
	m             *metrics.Metrics
	route, method string
	status        int
}

type seriesOf struct {
	count prometheus.Counter
	took  prometheus.Observer
}

var series requestSeries

func (r *requestSeries) of(m *metrics.Metrics, route, method string, status int) *seriesOf {
	k := seriesKey{m, route, method, status}
	if s, ok := r.m.Load(k); ok {
		return s.(*seriesOf)
	}
	s := &seriesOf{count: m.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(status)),
		took: m.HTTPDuration.WithLabelValues(route, method)}
	v, _ := r.m.LoadOrStore(k, s)
	return v.(*seriesOf)
}

// joinCounters caches each room's joins counter, as requestSeries does the
// request series: a join costs one map lookup, not a label hashing.
var joinCounters sync.Map // joinCounterKey -> prometheus.Counter

type joinCounterKey struct {
	m    *metrics.Metrics
	room string
}

func joinCounter(m *metrics.Metrics, room string) prometheus.Counter {
	k := joinCounterKey{m, room}
	if c, ok := joinCounters.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := joinCounters.LoadOrStore(k, m.Joins.WithLabelValues(room))
	return c.(prometheus.Counter)
}
