// Command admitter runs the ticks of every room: with SQS_QUEUE_URL through
// an SQS delay loop (one message per room, sent with DelaySeconds), else on
// an in-process timer. Any number of admitters may run at once: each room
// still ticks once per interval (see package pacer).
//
// Configuration comes from flags, each of which defaults to an environment
// variable (internal/settings); run with -help for the list.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/pacer"
	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/settings"
	"github.com/waitroom/waitroom/pkg/queue"
)

func main() { settings.Main("admitter", run) }

const about = `Runs the ticks of every waitroom room, each once per interval however many
admitters run: through an SQS delay loop when a queue is given, else on an
in-process timer. Logs JSON to stderr. SIGINT or SIGTERM: finish the ticks
in flight, hand the loops on, exit.`

// options are the parsed settings.
type options struct {
	redis                                         redisconn.Config
	queueURL, sqsEndpoint                         string
	metricsAddr                                   string
	visibility, waitTime, slack, poll, roomsEvery time.Duration
	shutdown, historyRetention                    time.Duration
	tickWaitReplicas                              int
	tickWaitTimeout                               time.Duration
	level                                         slog.Level
}

// declare puts every setting of the admitter on a Set, in the order -help
// lists them; options reads them once parsed.
func declare(getenv func(string) string) (*settings.Set, func() (options, error)) {
	s := settings.New("admitter", about, getenv)
	redisCfg := redisconn.Declare(s, "Redis to run on: redis://[:password@]host:port/db or rediss://…; required unless -redis-cluster-addrs or -redis-sentinel-addrs is set")
	queueURL := s.String("sqs-queue-url", "SQS_QUEUE_URL", "", "the delay-loop queue; unset: the in-process pacer")
	sqsEndpoint := s.String("sqs-endpoint", "AWS_ENDPOINT_URL_SQS", "", "SQS endpoint (an emulator); unset: AWS's. Region and credentials come from the usual AWS_* variables")
	durations := map[string]*time.Duration{
		"visibility-timeout": s.Duration("visibility-timeout", "ADMITTER_VISIBILITY_TIMEOUT", 30*time.Second,
			"SQS: how long a received loop message stays hidden; a loop whose admitter died resumes within an interval plus this (whole seconds)"),
		"wait-time": s.Duration("wait-time", "ADMITTER_WAIT_TIME", time.Second, "SQS: long-poll wait of one receive, 1s–20s; a stop waits for it"),
		"slack": s.Duration("slack", "ADMITTER_SLACK", 2*time.Second,
			"SQS: how much later than the visibility timeout a loop may be before the watchdog re-seeds it"),
		"poll":        s.Duration("poll", "ADMITTER_POLL", 50*time.Millisecond, "in-process pacer: longest sleep between looks at the rooms"),
		"rooms-every": s.Duration("rooms-every", "ADMITTER_ROOMS_EVERY", time.Second, "how often the room list is read: how soon a new room starts ticking"),
		"shutdown-timeout": s.Duration("shutdown-timeout", "ADMITTER_SHUTDOWN_TIMEOUT", 8*time.Second,
			"on SIGINT or SIGTERM, how long the ticks in flight may take to finish"),
	}
	tickWaitReplicas := s.Int("tick-wait-replicas", "ADMITTER_TICK_WAIT_REPLICAS", 0,
		"a tick's admissions are announced to sockets only once this many replicas have them (Redis WAIT); 0: off, once the primary has them")
	tickWaitTimeout := s.Duration("tick-wait-timeout", "ADMITTER_TICK_WAIT_TIMEOUT", 500*time.Millisecond,
		"with -tick-wait-replicas: how long a tick waits for the replicas before it is logged as not replicated, 1ms–10s")
	historyRetention := s.Duration("history-retention", "WAITROOM_HISTORY_RETENTION", queue.DefaultHistoryRetention, "how long each room's sale history is kept in Redis, 1h–30d (as waitroom's)")
	level := s.Level("log-level", "ADMITTER_LOG_LEVEL", slog.LevelInfo, "debug, info, warn or error")
	metricsAddr := s.String("metrics-addr", "ADMITTER_METRICS_ADDR", ":9090", "listen address of /metrics, /healthz and /readyz; off: none")
	return s, func() (options, error) {
		for name, d := range durations {
			if *d <= 0 {
				return options{}, s.Errorf(name, "must be a positive duration such as 30s, got %s", *d)
			}
		}
		o := options{
			redis: redisCfg(), queueURL: *queueURL, sqsEndpoint: *sqsEndpoint,
			metricsAddr: *metricsAddr, level: *level,
			visibility: *durations["visibility-timeout"], waitTime: *durations["wait-time"], slack: *durations["slack"],
			poll: *durations["poll"], roomsEvery: *durations["rooms-every"], shutdown: *durations["shutdown-timeout"],
		}
		if o.metricsAddr == "off" {
			o.metricsAddr = ""
		}
		o.tickWaitReplicas, o.tickWaitTimeout = *tickWaitReplicas, *tickWaitTimeout
		if o.tickWaitReplicas < 0 {
			return options{}, s.Errorf("tick-wait-replicas", "must be an integer ≥ 0, got %d", o.tickWaitReplicas)
		}
		if o.tickWaitTimeout < time.Millisecond || o.tickWaitTimeout > 10*time.Second {
			return options{}, s.Errorf("tick-wait-timeout", "must be a duration from 1ms to 10s, got %s", o.tickWaitTimeout)
		}
		o.historyRetention = *historyRetention
		if o.historyRetention < time.Hour || o.historyRetention > 30*24*time.Hour {
			return options{}, s.Errorf("history-retention", "must be a duration from 1h to 720h, got %s", o.historyRetention)
		}
		if !o.redis.Configured() {
			return options{}, s.Errorf("redis-url", "is required unless REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS is set: the admitter runs the rooms of a shared Redis")
		}
		return o, nil
	}
}

// run is the admitter: it returns when ctx ends and the ticks in flight
// are done, or with an error when the configuration is unusable.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s, parsed := declare(getenv)
	if err := s.Parse(args, stdout); err != nil {
		return err
	}
	o, err := parsed()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: o.level}))
	redisconn.LogTo(log) // go-redis's own complaints, as JSON too

	rdb, err := o.redis.Open()
	if err != nil {
		return err
	}
	defer rdb.Close()
	where := o.redis.Where()
	met := metrics.New()
	rdb.AddHook(met.RedisHook())
	store := queue.New(rdb, queue.Options{Logger: log, HistoryRetention: o.historyRetention,
		WaitReplicas: o.tickWaitReplicas, WaitTimeout: o.tickWaitTimeout})
	met.Rooms(store)
	common := pacer.Options{Logger: log, RoomsEvery: o.roomsEvery, ShutdownTimeout: o.shutdown, OnTick: met.OnTick}
	if o.metricsAddr != "" {
		stopMetrics, err := serveMetrics(o.metricsAddr, met, store, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	var p pacer.Pacer
	if o.queueURL == "" {
		log.Info("admitter starting", "pacer", "local", "redis", where)
		p = pacer.NewLocal(store, pacer.LocalOptions{Options: common, Poll: o.poll})
	} else {
		client, region, err := sqsClient(ctx, o.queueURL, o.sqsEndpoint)
		if err != nil {
			return err
		}
		p, err = pacer.NewSQS(store, client, pacer.SQSOptions{
			Options:           common,
			QueueURL:          o.queueURL,
			VisibilityTimeout: o.visibility,
			WaitTime:          o.waitTime,
			Slack:             o.slack,
		})
		if err != nil {
			return err
		}
		log.Info("admitter starting", "pacer", "sqs", "redis", where, "queue", o.queueURL,
			"region", region, "endpoint", o.sqsEndpoint, "visibility_timeout", o.visibility.String())
	}
	go func() {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := store.Ping(pctx); err != nil && ctx.Err() == nil {
			// Not fatal: Redis may come up later, and the pacer retries.
			log.Warn("redis does not answer yet", "err", err)
		}
	}()

	if err := p.Run(ctx); err != nil {
		return err
	}
	log.Info("admitter stopped")
	return nil
}

// regionInURL finds the region of an AWS queue URL
// (https://sqs.<region>.amazonaws.com/<account>/<name>).
var regionInURL = regexp.MustCompile(`^sqs\.([a-z0-9-]+)\.`)

// sqsClient builds the SQS client the usual AWS way (AWS_REGION,
// credentials, AWS_ENDPOINT_URL_SQS…); endpoint, when set, overrides it.
func sqsClient(ctx context.Context, queueURL, endpoint string) (*sqs.Client, string, error) {
	if _, err := url.ParseRequestURI(queueURL); err != nil {
		return nil, "", fmt.Errorf("SQS_QUEUE_URL: %w", err)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
		if u, err := url.Parse(queueURL); err == nil {
			if m := regionInURL.FindStringSubmatch(u.Hostname()); m != nil {
				cfg.Region = m[1]
			}
		}
	}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return client, cfg.Region, nil
}

// serveMetrics serves /metrics and the shared /healthz and /readyz on addr
// until the returned stop is called.
func serveMetrics(addr string, met *metrics.Metrics, store *queue.Store, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	e := httpapi.NewEcho(log)
	e.GET("/metrics", echo.WrapHandler(met.Handler()))
	httpapi.RegisterHealth(e, store, nil)
	srv := httpapi.NewServer(e, log, httpapi.ServerOptions{})
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
