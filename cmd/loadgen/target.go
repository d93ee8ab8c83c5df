package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// This tool loads this machine and nothing else. Two guards make sure of it:
// checkTarget refuses any URL whose host is not localhost, 127.0.0.0/8 or
// ::1, and every connection goes through a dialer whose Control hook refuses
// a remote address that is not loopback, after name resolution, so neither a
// "localhost" that resolves elsewhere nor a redirect can escape. HTTP
// proxies from the environment are never used.

var errNotLoopback = errors.New("not a loopback address")

// checkTarget parses a base URL and refuses it unless it names this machine.
func checkTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%q: refusing host %q: loadgen only loads this machine (localhost, 127.0.0.0/8 or ::1)", raw, u.Hostname())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// isLoopbackHost reports whether a URL host (no port) is this machine.
func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// guardLoopback is a net.Dialer Control hook: it refuses to connect anywhere
// but loopback. address is the resolved ip:port.
func guardLoopback(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("%w: %s", errNotLoopback, address)
	}
	return nil
}

// sourceAddrs are the client addresses 127.0.0.first … 127.0.0.(first+n-1).
// Linux routes all of 127.0.0.0/8 to lo, so they need no setup.
func sourceAddrs(first, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(first + i)})
	}
	return out
}

// maxSourceIPs keeps the source addresses within 127.0.0.1–127.0.0.254.
const maxSourceIPs = 254

// ephemeralPorts is how many local ports one source address offers
// (net.ipv4.ip_local_port_range); 28 232, Linux's default, if unknown.
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28232
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 28232
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 28232
	}
	return hi - lo + 1
}

// autoSourceIPs is how many source addresses conns connections need when
// each offers ports local ports, using at most 40 % of them. Linux's connect
// tries the even half of the range first, so once that half is taken every
// further connect scans it: a loadgen with 17 000 sockets on one address
// spent half the machine's CPU there.
func autoSourceIPs(conns, ports int) int {
	per := usablePorts(ports)
	return min(max((conns+per-1)/per, 1), maxSourceIPs)
}

// usablePorts is how many of an address's ports one run takes at most.
func usablePorts(ports int) int { return max(ports*4/10, 1) }

// source is one client address: an HTTP client and a WebSocket dialer that
// connect from it.
type source struct {
	addr netip.Addr
	http *http.Client
	ws   *websocket.Dialer
}

// wsWritePool shares write buffers among the client sockets: a socket
// writes only pongs and a close frame, so none keeps a buffer of its own.
var wsWritePool = &sync.Pool{}

// newSource builds the clients for one source address; bind is false when
// there is only one address and the kernel may choose it.
func newSource(addr netip.Addr, bind bool, httpConns int, timeout time.Duration) *source {
	nd := &net.Dialer{Timeout: timeout, KeepAlive: -1, Control: guardLoopback}
	if bind {
		nd.LocalAddr = &net.TCPAddr{IP: addr.AsSlice()}
		nd.Control = func(network, address string, c syscall.RawConn) error {
			if err := guardLoopback(network, address, c); err != nil {
				return err
			}
			return bindWithoutPort(c)
		}
	}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		if bind {
			network = "tcp4" // the source is IPv4: "localhost" must not pick ::1
		}
		return nd.DialContext(ctx, network, address)
	}
	tr := &http.Transport{
		Proxy:                 nil, // never a proxy: the target is this machine
		DialContext:           dial,
		MaxIdleConnsPerHost:   httpConns,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
	}
	return &source{
		addr: addr,
		http: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		ws: &websocket.Dialer{
			NetDialContext:   dial,
			Proxy:            nil,
			HandshakeTimeout: timeout,
			// Small buffers: 100 000 client sockets live in this process.
			// Messages are under 1 KiB; larger ones still read fine.
			ReadBufferSize:  512,
			WriteBufferSize: 256,
			WriteBufferPool: wsWritePool,
		},
	}
}

// wsURL turns the waitroom base URL into the room's socket URL for ticket.
func wsURL(base *url.URL, room, ticket string) string {
	u := *base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path += "/api/rooms/" + room + "/ws"
	u.RawQuery = "ticket=" + url.QueryEscape(ticket)
	return u.String()
}

// errKind names a transport error for the error counts.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errNotLoopback):
		return "refused: not loopback"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "out of local ports (raise -source-ips)"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, websocket.ErrBadHandshake):
		return "bad handshake"
	}
	return "transport"
}
