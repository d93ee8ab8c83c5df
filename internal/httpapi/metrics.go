package httpapi

import (
	"strconv"
	"time"

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
			method := c.Request().Method
			m.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
			m.HTTPDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
			return err
		}
	})
}
