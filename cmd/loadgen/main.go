// Command loadgen simulates browsers against a waitroom running on this
// machine. Each visitor joins over HTTP (at a set rate, or as fast as the
// concurrency allows), keeps the room's WebSocket open, records its position
// messages and its admission, and may go on to the booking API. Client
// sockets are spread over 127.0.0.1–127.0.0.N, so more can be open than one
// address's ephemeral ports allow.
//
// The run is bounded in visitors and in time and stops by itself. It prints
// a summary: joins per second; join and status latency; sockets held; for
// every tick, how long until the last socket had its new position (see
// waves.go for the method); whether each admission arrived exactly once and
// in join order (order.go); errors by kind; and the server's resident memory
// from /proc. It exits 1 when admissions were duplicated or out of order,
// when errors exceed -max-errors, or when a -max-* target is missed; 2 on a
// bad command line.
//
// It refuses any target that is not this machine: see target.go.
//
//	go run ./cmd/loadgen -url http://127.0.0.1:8080 -room load -visitors 100000 -sockets -hold 60s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	r, err := newRunner(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	if err := r.putRoomConfig(ctx); err != nil {
		fmt.Fprintln(stderr, "loadgen: -room-config:", err)
		return 1
	}
	sum := r.Run(ctx)
	sum.WriteText(stdout)
	if cfg.JSONPath != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(cfg.JSONPath, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "loadgen: write -json:", err)
			return 1
		}
	}
	if len(sum.Failures) > 0 {
		return 1
	}
	return 0
}

// config is the command line.
type config struct {
	URL         *url.URL
	Room        string
	Visitors    int
	Rate        float64
	Concurrency int
	Sockets     bool
	SourceIPs   int // 0: as many as the sockets need
	// SourceIPFirst is the last byte of the first source address, so that
	// several loadgen processes use addresses of their own.
	SourceIPFirst int
	Duration      time.Duration
	Hold          time.Duration
	StatusPolls   int
	StatusEvery   time.Duration
	BookingURL    *url.URL
	Book          bool
	Checkout      bool
	ServerPID     int
	AdminToken    string
	RoomConfig    string
	WaveGap       time.Duration
	CheckSample   int
	HTTPTimeout   time.Duration
	Progress      time.Duration
	JSONPath      string

	MaxErrors       int64
	MaxTickP99      time.Duration
	MaxServerRSSMiB float64
}

var roomID = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

func parseFlags(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	var c config
	var rawURL, rawBooking, pidFile string
	fs.StringVar(&rawURL, "url", "http://127.0.0.1:8080", "waitroom base URL; only this machine: localhost, 127.0.0.0/8 or ::1")
	fs.StringVar(&c.Room, "room", "demo", "room id")
	fs.IntVar(&c.Visitors, "visitors", 1000, "visitors to simulate (one join each)")
	fs.Float64Var(&c.Rate, "rate", 0, "joins per second; 0: as fast as -concurrency allows")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "HTTP requests in flight at most (joins, status, booking), and WebSocket handshakes in flight")
	fs.BoolVar(&c.Sockets, "sockets", true, "open a WebSocket per visitor and record its messages")
	fs.IntVar(&c.SourceIPs, "source-ips", 0, "bind client sockets to 127.0.0.1..127.0.0.N (N ≤ 254); 0: as many as the sockets need")
	fs.IntVar(&c.SourceIPFirst, "source-ip-first", 1, "first source address 127.0.0.F, for several loadgen processes side by side (F+N-1 ≤ 254)")
	fs.DurationVar(&c.Duration, "duration", 2*time.Minute, "hard stop for joining and holding; then at most 1 s for the last tick wave, and sockets close")
	fs.DurationVar(&c.Hold, "hold", 0, "after the last join, keep sockets this long at most; 0: until every visitor is admitted (and booked with -book) or -duration ends")
	fs.IntVar(&c.StatusPolls, "status-polls", 0, "status requests per visitor (GET …/tickets/{ticket}), for status latency")
	fs.DurationVar(&c.StatusEvery, "status-every", 2*time.Second, "time between a visitor's status requests (the first comes this long after its join)")
	fs.StringVar(&rawBooking, "booking-url", "", "booking API base URL; only this machine (default: -url)")
	fs.BoolVar(&c.Book, "book", false, "after admission: list seats, hold one and book it with the entry token (needs -sockets)")
	fs.BoolVar(&c.Checkout, "checkout", true, "with -book: check out after booking, freeing the admission for the next visitor")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process to watch (VmRSS, VmHWM from /proc); 0: the process listening on -url's port, if visible")
	fs.StringVar(&pidFile, "server-pid-file", "", "file holding the server's process id (instead of -server-pid)")
	fs.StringVar(&c.AdminToken, "admin-token", "", "operator token, for -room-config (default: $WAITROOM_ADMIN_TOKEN)")
	fs.StringVar(&c.RoomConfig, "room-config", "", `JSON config to PUT to the room before the run, e.g. '{"mode":"queue_all","batch_size":1000,"capacity":0,"interval_ms":1000}'`)
	fs.DurationVar(&c.WaveGap, "wave-gap", 100*time.Millisecond, "quiet time that separates two tick waves of socket messages (keep it below the room's interval)")
	fs.IntVar(&c.CheckSample, "check-sample", 20, "after each wave, compare this many sockets' last position with a status request; 0: off")
	fs.DurationVar(&c.HTTPTimeout, "http-timeout", 10*time.Second, "timeout of one HTTP request or WebSocket handshake")
	fs.DurationVar(&c.Progress, "progress", 5*time.Second, "progress line to stderr this often; 0: none")
	fs.StringVar(&c.JSONPath, "json", "", "also write the summary as JSON to this file")
	fs.Int64Var(&c.MaxErrors, "max-errors", 0, "exit 1 when more errors than this occurred")
	fs.DurationVar(&c.MaxTickP99, "max-tick-p99", 0, "exit 1 when the p99 over waves of the time to the last socket exceeds this; 0: report only")
	fs.Float64Var(&c.MaxServerRSSMiB, "max-server-rss-mib", 0, "exit 1 when the server's sampled peak RSS exceeds this many MiB; 0: report only")
	fs.Usage = func() {
		fmt.Fprintln(out, "loadgen: simulate browsers against a waitroom on this machine; prints a summary, exits 1 when a check fails.")
		fmt.Fprintln(out, "\nflags (default):")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	var err error
	if c.URL, err = checkTarget(rawURL); err != nil {
		return c, fmt.Errorf("-url %w", err)
	}
	c.BookingURL = c.URL
	if rawBooking != "" {
		if c.BookingURL, err = checkTarget(rawBooking); err != nil {
			return c, fmt.Errorf("-booking-url %w", err)
		}
	}
	if c.AdminToken == "" {
		c.AdminToken = getenv("WAITROOM_ADMIN_TOKEN")
	}
	if pidFile != "" {
		if c.ServerPID != 0 {
			return c, errors.New("give -server-pid or -server-pid-file, not both")
		}
		if c.ServerPID, err = readPIDFile(pidFile); err != nil {
			return c, fmt.Errorf("-server-pid-file: %w", err)
		}
	}
	switch {
	case !roomID.MatchString(c.Room):
		return c, fmt.Errorf("-room %q: want 1–64 characters of a-z, 0-9, -", c.Room)
	case c.Visitors < 1:
		return c, errors.New("-visitors must be at least 1")
	case c.Rate < 0:
		return c, errors.New("-rate must be ≥ 0")
	case c.Concurrency < 1:
		return c, errors.New("-concurrency must be at least 1")
	case c.SourceIPs < 0 || c.SourceIPs > maxSourceIPs:
		return c, fmt.Errorf("-source-ips must be 0–%d", maxSourceIPs)
	case c.SourceIPFirst < 1 || c.SourceIPFirst > maxSourceIPs:
		return c, fmt.Errorf("-source-ip-first must be 1–%d", maxSourceIPs)
	case c.Duration <= 0:
		return c, errors.New("-duration must be positive")
	case c.Hold < 0:
		return c, errors.New("-hold must be ≥ 0")
	case c.StatusPolls < 0:
		return c, errors.New("-status-polls must be ≥ 0")
	case c.StatusPolls > 0 && c.StatusEvery <= 0:
		return c, errors.New("-status-every must be positive")
	case c.Book && !c.Sockets:
		return c, errors.New("-book needs -sockets: the admission and its entry token come by WebSocket")
	case c.WaveGap < 10*time.Millisecond:
		return c, errors.New("-wave-gap must be at least 10ms")
	case c.CheckSample < 0:
		return c, errors.New("-check-sample must be ≥ 0")
	case c.HTTPTimeout <= 0:
		return c, errors.New("-http-timeout must be positive")
	case c.RoomConfig != "" && !json.Valid([]byte(c.RoomConfig)):
		return c, errors.New("-room-config is not valid JSON")
	case c.RoomConfig != "" && c.AdminToken == "":
		return c, errors.New("-room-config needs -admin-token (or $WAITROOM_ADMIN_TOKEN)")
	}
	return c, nil
}
