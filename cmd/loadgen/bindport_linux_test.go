package main

import (
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestASourceAddressIsBoundWithoutChoosingAPortAtBind(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c.RemoteAddr()
			c.Close()
		}
	}()

	src := newSource(netip.MustParseAddr("127.0.0.5"), true, 1, 5*time.Second)
	conn, err := src.http.Transport.(*http.Transport).DialContext(t.Context(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.Equal(t, "127.0.0.5", (<-accepted).(*net.TCPAddr).IP.String(), "the connection comes from the source address")

	raw, err := conn.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var opt int
	require.NoError(t, raw.Control(func(fd uintptr) {
		opt, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT)
	}))
	require.NoError(t, err)
	require.Equal(t, 1, opt, "the port was left to connect")
}
