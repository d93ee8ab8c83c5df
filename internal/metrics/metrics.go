// Package metrics defines waitroom's Prometheus metrics, one registry per
// process, served at /metrics by every binary. Names follow Prometheus
// conventions: the waitroom_ prefix, units in the name, _total on counters.
// Components get what they count passed in (hooks and vectors), so no
// package reaches for a global registry.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/pkg/queue"
)

// Metrics holds every metric of a process. Binaries use the ones that
// apply to them; the others stay at zero.
type Metrics struct {
	reg *prometheus.Registry

	// HTTP, by route pattern (never the path: it may hold a ticket).
	HTTPRequests *prometheus.CounterVec   // route, method, code
	HTTPDuration *prometheus.HistogramVec // route, method

	// The line, per room.
	Joins        *prometheus.CounterVec   // room
	Leaves       *prometheus.CounterVec   // room
	Admissions   *prometheus.CounterVec   // room
	Abandons     *prometheus.CounterVec   // room
	Ticks        *prometheus.CounterVec   // room
	TickDuration *prometheus.HistogramVec // room

	// Sockets.
	MessagesPushed *prometheus.CounterVec // type

	// Booking.
	TokenChecks *prometheus.CounterVec // result
	SeatHolds   *prometheus.CounterVec // room, result
	Bookings    *prometheus.CounterVec // room, result

	// Redis.
	RedisErrors prometheus.Counter
	// Refused operator tokens.
	AdminRefused prometheus.Counter
}

// New returns a fresh set of metrics on its own registry, with the Go and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		f(v)
		return v
	}
	m.HTTPRequests = counter("waitroom_http_requests_total", "HTTP requests by route pattern, method and status code.", "route", "method", "code")
	m.HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "waitroom_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method"})
	f(m.HTTPDuration)
	m.Joins = counter("waitroom_joins_total", "New tickets handed out (a rejoin that keeps its place is not counted).", "room")
	m.Leaves = counter("waitroom_leaves_total", "Visitors who left the line or ended their admission.", "room")
	m.Admissions = counter("waitroom_admissions_total", "Visitors admitted, by a tick or at once at join.", "room")
	m.Abandons = counter("waitroom_abandons_total", "Waiting visitors dropped for absence (abandon_after_s).", "room")
	m.Ticks = counter("waitroom_ticks_total", "Ticks run by this admitter.", "room")
	m.TickDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "waitroom_tick_duration_seconds", Help: "Time of one tick, script and round trip.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"room"})
	f(m.TickDuration)
	m.MessagesPushed = counter("waitroom_ws_messages_pushed_total", "WebSocket messages queued for visitors, by type.", "type")
	m.TokenChecks = counter("waitroom_token_checks_total", "Entry-token checks by the booking API, by result.", "result")
	m.SeatHolds = counter("waitroom_seat_holds_total", "Seat hold attempts by result.", "room", "result")
	m.Bookings = counter("waitroom_seat_bookings_total", "Seat booking attempts by result.", "room", "result")
	m.RedisErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "waitroom_redis_errors_total", Help: "Redis commands that failed (not counting a missing key)."})
	f(m.RedisErrors)
	m.AdminRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "waitroom_admin_token_refused_total", Help: "Operator requests refused for a missing or wrong token."})
	f(m.AdminRefused)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SocketsOpen registers waitroom_ws_sockets_open, read from open at scrape.
func (m *Metrics) SocketsOpen(open func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "waitroom_ws_sockets_open", Help: "WebSockets open on this process.",
	}, func() float64 { return float64(open()) }))
}

// OnTick counts a tick and what it changed (the pacer's hook).
func (m *Metrics) OnTick(room string, ev queue.Event, d time.Duration) {
	m.Ticks.WithLabelValues(room).Inc()
	m.TickDuration.WithLabelValues(room).Observe(d.Seconds())
	if n := len(ev.Admitted); n > 0 {
		m.Admissions.WithLabelValues(room).Add(float64(n))
	}
	abandoned := 0
	for _, r := range ev.Removed {
		if r.Reason == queue.ReasonAbandoned {
			abandoned++
		}
	}
	if abandoned > 0 {
		m.Abandons.WithLabelValues(room).Add(float64(abandoned))
	}
}

// OnPush counts a message queued for a socket (the hub's hook).
func (m *Metrics) OnPush(kind string) { m.MessagesPushed.WithLabelValues(kind).Inc() }

// RoomStats is what the per-room gauges read. *queue.Store provides it.
type RoomStats interface {
	Rooms(ctx context.Context) ([]queue.RoomConfig, error)
	Stats(ctx context.Context, room string) (queue.Stats, error)
}

// Rooms registers the per-room gauges waitroom_room_waiting and
// waitroom_room_admitted, read from Redis at scrape time (one small script
// per room, bounded by a timeout), and, when store has HistoryTotals, the
// counters of the sale's history (waitroom_room_*_total) and the wait
// histogram waitroom_room_wait_seconds.
func (m *Metrics) Rooms(store RoomStats) {
	m.reg.MustRegister(&roomCollector{store: store})
}

type roomCollector struct{ store RoomStats }

// HistoryTotals is what the per-room history counters read; *queue.Store
// provides it. A RoomStats without it exports only the gauges.
type HistoryTotals interface {
	HistoryTotals(ctx context.Context, room string) (queue.HistoryTotals, error)
}

// The sale's history as counters, from the room's totals in Redis (the same
// figures on every instance: sum them with max by (room), not sum).
var (
	arrivalsDesc = prometheus.NewDesc("waitroom_room_arrivals_total", "Visitors who joined the room (new tickets).", []string{"room"}, nil)
	admitsDesc   = prometheus.NewDesc("waitroom_room_admissions_total", "Visitors admitted, by a tick or at join.", []string{"room"}, nil)
	abandonsDesc = prometheus.NewDesc("waitroom_room_abandons_total", "Waiting visitors dropped for absence.", []string{"room"}, nil)
	leavesDesc   = prometheus.NewDesc("waitroom_room_leaves_total", "Visitors who left the line or the pre-queue.", []string{"room"}, nil)
	endedDesc    = prometheus.NewDesc("waitroom_room_admissions_ended_total", "Admissions ended: time up, checkout, leave, operator.", []string{"room"}, nil)
	noShowsDesc  = prometheus.NewDesc("waitroom_room_no_shows_total", "Admissions ended because the entry was not used within arrive_within_s.", []string{"room"}, nil)
	waitDesc     = prometheus.NewDesc("waitroom_room_wait_seconds", "Wait from line entry to admission of admitted visitors.", []string{"room"}, nil)
)

// promWaitBuckets are the wait histogram's upper bounds: every fourth
// bucket of the history's (1 s, 2 s, 4 s … 2^18 s).
const promWaitBuckets = 19

func (c *roomCollector) collectHistory(ctx context.Context, ch chan<- prometheus.Metric, room string) {
	ht, ok := c.store.(HistoryTotals)
	if !ok {
		return
	}
	t, err := ht.HistoryTotals(ctx, room)
	if err != nil {
		return
	}
	for _, m := range []struct {
		d *prometheus.Desc
		v int64
	}{{arrivalsDesc, t.Arrived}, {admitsDesc, t.Admitted}, {abandonsDesc, t.Abandoned}, {leavesDesc, t.Left},
		{endedDesc, t.Ended}, {noShowsDesc, t.NoShow}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), room)
	}
	buckets := make(map[float64]uint64, promWaitBuckets)
	var cum uint64
	for k, n := range t.WaitBuckets {
		cum += uint64(n)
		if k%4 == 0 && k/4 < promWaitBuckets {
			buckets[queue.WaitBucketUpper(k)] = cum
		}
	}
	ch <- prometheus.MustNewConstHistogram(waitDesc, cum, t.WaitSum.Seconds(), buckets, room)
}

var (
	waitingDesc  = prometheus.NewDesc("waitroom_room_waiting", "Visitors waiting in the room's line.", []string{"room"}, nil)
	admittedDesc = prometheus.NewDesc("waitroom_room_admitted", "Admissions live in the room.", []string{"room"}, nil)
	perMinDesc   = prometheus.NewDesc("waitroom_room_admitted_last_minute", "Admissions in the room over the last minute.", []string{"room"}, nil)
)

func (c *roomCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- waitingDesc
	ch <- admittedDesc
	ch <- perMinDesc
	if _, ok := c.store.(HistoryTotals); ok {
		for _, d := range []*prometheus.Desc{arrivalsDesc, admitsDesc, abandonsDesc, leavesDesc, endedDesc, noShowsDesc, waitDesc} {
			ch <- d
		}
	}
}

func (c *roomCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rooms, err := c.store.Rooms(ctx)
	if err != nil {
		return // Redis down: the gauges are absent rather than wrong
	}
	for _, r := range rooms {
		st, err := c.store.Stats(ctx, r.Room)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(st.Waiting), r.Room)
		ch <- prometheus.MustNewConstMetric(admittedDesc, prometheus.GaugeValue, float64(st.Admitted), r.Room)
		ch <- prometheus.MustNewConstMetric(perMinDesc, prometheus.GaugeValue, float64(st.AdmittedLastMinute), r.Room)
		c.collectHistory(ctx, ch, r.Room)
	}
}

// RedisHook counts failed Redis commands on a client: add it with
// client.AddHook(m.RedisHook()).
func (m *Metrics) RedisHook() redis.Hook { return redisHook{m.RedisErrors} }

type redisHook struct{ errs prometheus.Counter }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			h.errs.Inc()
		}
		return c, err
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if failed(err) {
			h.errs.Inc()
		}
		return err
	}
}

// failed leaves out a missing key and NOSCRIPT: the first EVALSHA after a
// start or a failover is answered NOSCRIPT and the client reloads the
// script; neither is a failure.
func failed(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "NOSCRIPT")
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if failed(err) {
			h.errs.Inc()
		}
		return err
	}
}
