package testproc

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readyWithin bounds a server's start, up to its /readyz answering 200.
const readyWithin = 20 * time.Second

// Server is a Process serving HTTP on a fixed address, which it keeps across
// restarts, as a load balancer's target does.
type Server struct {
	*Process
	// Addr is 127.0.0.1:port.
	Addr string
	// Base is http://127.0.0.1:port.
	Base string
}

// StartServer runs c listening on a free port of 127.0.0.1, given to it as
// the variable addrVar (e.g. WAITROOM_ADDR), and returns once its /readyz
// answers 200. A port taken by someone else between picking and binding it
// is picked again.
func StartServer(t testing.TB, c Command, addrVar string) *Server {
	t.Helper()
	env := c.Env
	for attempt := 1; ; attempt++ {
		addr := FreeAddr(t)
		c.Env = append([]string{addrVar + "=" + addr}, env...)
		p := Start(t, c)
		s := &Server{Process: p, Addr: addr, Base: "http://" + addr}
		err := s.WaitReady(readyWithin)
		if err == nil {
			return s
		}
		p.Kill()
		if attempt < 3 && addrInUse(p.Tail(20)) {
			continue
		}
		t.Fatalf("%s: %v\n--- output ---\n%s", p.Name, err, p.Tail(failureTail))
	}
}

// Restart starts a killed or stopped server again on its address and waits
// until it is ready. The port was free a moment ago, so a retry covers the
// rare case of another test's process taking it meanwhile.
func (s *Server) Restart(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if err := s.Start(); err != nil {
			return err
		}
		err := s.WaitReady(time.Until(deadline))
		if err == nil {
			return nil
		}
		s.Kill()
		if time.Now().After(deadline) || !addrInUse(s.Tail(5)) {
			return fmt.Errorf("%s restart: %w\n%s", s.Name, err, s.Tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitReady polls /readyz until it answers 200; it gives up when the process
// exits or within has passed.
func (s *Server) WaitReady(within time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if !s.Alive() {
			return errors.New("exited before it was ready")
		}
		if resp, err := c.Get(s.Base + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("/readyz not 200 within %s", within)
}

func addrInUse(log string) bool { return strings.Contains(log, "address already in use") }

// FreeAddr picks a port of 127.0.0.1 that nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
