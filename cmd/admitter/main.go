// Command admitter runs the ticks of every room: with SQS_QUEUE_URL through
// an SQS delay loop (one message per room, sent with DelaySeconds), else on
// an in-process timer. Any number of admitters may run at once: each room
// still ticks once per interval (see package pacer).
//
// Configuration comes from flags, each of which defaults to an environment
// variable; run with -help for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/waitroom/waitroom/internal/metrics"
	"github.com/waitroom/waitroom/internal/pacer"
	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/pkg/queue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "admitter:", err)
		os.Exit(1)
	}
}

// setting is one flag and the environment variable it defaults from.
type setting struct {
	flag, env, def, meta, usage string
	val                         string
}

// settings are every flag of the admitter, in the order -help lists them.
func settings() []*setting {
	return []*setting{
		{flag: "redis-url", env: "REDIS_URL", meta: "URL",
			usage: "Redis to run on: redis://[:password@]host:port/db or rediss://…; required unless -redis-cluster-addrs is set"},
		{flag: "redis-cluster-addrs", env: "REDIS_CLUSTER_ADDRS", meta: "ADDRS",
			usage: "host:port,host:port,…: use a Redis Cluster instead (user, password and TLS still come from -redis-url if set)"},
		{flag: "redis-sentinel-addrs", env: "REDIS_SENTINEL_ADDRS", meta: "ADDRS",
			usage: "host:port,host:port,… of Redis Sentinels: use the primary they name instead, and follow its failovers"},
		{flag: "redis-sentinel-master", env: "REDIS_SENTINEL_MASTER", meta: "NAME",
			usage: "the primary's name in the Sentinels' configuration; required with -redis-sentinel-addrs"},
		{flag: "redis-sentinel-password", env: "REDIS_SENTINEL_PASSWORD", meta: "PASSWORD",
			usage: "password of the Sentinels themselves; unset: none"},
		{flag: "redis-password", env: "REDIS_PASSWORD", meta: "PASSWORD",
			usage: "password of the Redis servers; overrides -redis-url's; unset: -redis-url's"},
		{flag: "sqs-queue-url", env: "SQS_QUEUE_URL", meta: "URL",
			usage: "the delay-loop queue; unset: the in-process pacer"},
		{flag: "sqs-endpoint", env: "AWS_ENDPOINT_URL_SQS", meta: "URL",
			usage: "SQS endpoint (an emulator); unset: AWS's. Region and credentials come from the usual AWS_* variables"},
		{flag: "visibility-timeout", env: "ADMITTER_VISIBILITY_TIMEOUT", def: "30s", meta: "DURATION",
			usage: "SQS: how long a received loop message stays hidden; a loop whose admitter died resumes within an interval plus this (whole seconds)"},
		{flag: "wait-time", env: "ADMITTER_WAIT_TIME", def: "1s", meta: "DURATION",
			usage: "SQS: long-poll wait of one receive, 1s–20s; a stop waits for it"},
		{flag: "slack", env: "ADMITTER_SLACK", def: "2s", meta: "DURATION",
			usage: "SQS: how much later than the visibility timeout a loop may be before the watchdog re-seeds it"},
		{flag: "poll", env: "ADMITTER_POLL", def: "50ms", meta: "DURATION",
			usage: "in-process pacer: longest sleep between looks at the rooms"},
		{flag: "rooms-every", env: "ADMITTER_ROOMS_EVERY", def: "1s", meta: "DURATION",
			usage: "how often the room list is read: how soon a new room starts ticking"},
		{flag: "shutdown-timeout", env: "ADMITTER_SHUTDOWN_TIMEOUT", def: "8s", meta: "DURATION",
			usage: "on SIGINT or SIGTERM, how long the ticks in flight may take to finish"},
		{flag: "log-level", env: "ADMITTER_LOG_LEVEL", def: "info", meta: "LEVEL",
			usage: "debug, info, warn or error"},
		{flag: "metrics-addr", env: "ADMITTER_METRICS_ADDR", def: ":9090", meta: "ADDR",
			usage: "listen address of /metrics, /healthz and /readyz; empty: none"},
	}
}

// usage writes the -help text: every flag, its variable and its default.
func usage(w io.Writer, ss []*setting) {
	fmt.Fprintln(w, "Usage: admitter [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Runs the ticks of every waitroom room, each once per interval however many")
	fmt.Fprintln(w, "admitters run: through an SQS delay loop when a queue is given, else on an")
	fmt.Fprintln(w, "in-process timer. Logs JSON to stderr. SIGINT or SIGTERM: finish the ticks")
	fmt.Fprintln(w, "in flight, hand the loops on, exit.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each flag defaults to its environment variable, then to the default shown.")
	fmt.Fprintln(w)
	for _, s := range ss {
		def := s.def
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(w, "  -%s %s\n", s.flag, s.meta)
		fmt.Fprintf(w, "      env %s, default %s\n", s.env, def)
		fmt.Fprintf(w, "      %s\n", s.usage)
	}
}

// options are the parsed settings.
type options struct {
	redis                                         redisconn.Config
	redisURL, clusterAddrs, queueURL, sqsEndpoint string
	metricsAddr                                   string
	visibility, waitTime, slack, poll, roomsEvery time.Duration
	shutdown                                      time.Duration
	level                                         slog.Level
}

func parse(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) (options, error) {
	ss := settings()
	fs := flag.NewFlagSet("admitter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // -help prints the usage to stdout below; an error says to run -help
	for _, s := range ss {
		s.val = s.def
		if v, ok := lookupEnv(s.env); ok {
			s.val = v
		}
		fs.StringVar(&s.val, s.flag, s.val, s.usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, ss)
			return options{}, err
		}
		return options{}, fmt.Errorf("%w: see -help", err)
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q: see -help", fs.Args())
	}
	get := map[string]*setting{}
	for _, s := range ss {
		get[s.flag] = s
	}
	o := options{
		redisURL:     get["redis-url"].val,
		clusterAddrs: get["redis-cluster-addrs"].val,
		queueURL:     get["sqs-queue-url"].val,
		sqsEndpoint:  get["sqs-endpoint"].val,
		metricsAddr:  get["metrics-addr"].val,
	}
	o.redis = redisconn.Config{URL: o.redisURL, ClusterAddrs: o.clusterAddrs,
		SentinelAddrs: get["redis-sentinel-addrs"].val, SentinelMaster: get["redis-sentinel-master"].val,
		SentinelPassword: get["redis-sentinel-password"].val, Password: get["redis-password"].val}
	for name, dst := range map[string]*time.Duration{
		"visibility-timeout": &o.visibility, "wait-time": &o.waitTime, "slack": &o.slack,
		"poll": &o.poll, "rooms-every": &o.roomsEvery, "shutdown-timeout": &o.shutdown,
	} {
		s := get[name]
		d, err := time.ParseDuration(s.val)
		if err != nil || d <= 0 {
			return options{}, fmt.Errorf("-%s (%s) must be a positive duration such as 30s, got %q", s.flag, s.env, s.val)
		}
		*dst = d
	}
	if err := o.level.UnmarshalText([]byte(get["log-level"].val)); err != nil {
		return options{}, fmt.Errorf("-log-level (ADMITTER_LOG_LEVEL) must be debug, info, warn or error, got %q", get["log-level"].val)
	}
	if !o.redis.Configured() {
		return options{}, errors.New("REDIS_URL (or -redis-url) is required: the admitter runs the rooms of a shared Redis; see -help")
	}
	return o, nil
}

// run is the admitter: it returns when ctx ends and the ticks in flight
// are done, or with an error when the configuration is unusable.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	o, err := parse(args, lookupEnv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
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
	store := queue.New(rdb, queue.Options{Logger: log})
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

// serveMetrics serves /metrics, /healthz and /readyz on addr until the
// returned stop is called.
func serveMetrics(addr string, met *metrics.Metrics, store *queue.Store, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", met.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
