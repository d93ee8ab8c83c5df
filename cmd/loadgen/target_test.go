package main

import (
	"net/netip"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOnlyThisMachineIsATarget(t *testing.T) {
	for _, ok := range []string{
		"http://127.0.0.1:8080", "http://localhost:8080/", "http://LOCALHOST", "https://127.0.0.1",
		"http://127.1.2.3:9000", "http://[::1]:8080", "http://[::ffff:127.0.0.1]:8080",
	} {
		_, err := checkTarget(ok)
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{
		"http://10.0.0.1:8080", "http://example.com", "http://localhost.example.com", "http://0.0.0.0:8080",
		"http://[::]:8080", "http://192.168.1.10", "http://128.0.0.1", "ftp://127.0.0.1", "127.0.0.1:8080",
		"http://127.0.0.1.nip.io", "http://[::2]:80", "http://", "http://2130706433",
	} {
		_, err := checkTarget(bad)
		require.Error(t, err, bad)
	}
}

func TestTheDialGuardRefusesResolvedAddressesOffThisMachine(t *testing.T) {
	require.NoError(t, guardLoopback("tcp4", "127.0.0.1:80", nil))
	require.NoError(t, guardLoopback("tcp4", "127.0.0.9:80", nil))
	require.NoError(t, guardLoopback("tcp6", "[::1]:80", nil))
	require.ErrorIs(t, guardLoopback("tcp4", "93.184.216.34:80", nil), errNotLoopback)
	require.ErrorIs(t, guardLoopback("tcp6", "[2001:db8::1]:80", nil), errNotLoopback)
	require.ErrorIs(t, guardLoopback("tcp", "nonsense", nil), errNotLoopback)
}

func TestCheckTargetKeepsABasePath(t *testing.T) {
	u, err := checkTarget("http://127.0.0.1:8080/wr/?x=1#f")
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8080/wr", u.String())
	require.Equal(t, "ws://127.0.0.1:8080/wr/api/rooms/demo/ws?ticket=a%2Bb", wsURL(u, "demo", "a+b"))
	s, _ := url.Parse("https://localhost")
	require.Equal(t, "wss://localhost/api/rooms/r/ws?ticket=t", wsURL(s, "r", "t"))
}

func TestSourceAddressesAreLoopbackAndEnoughForTheSockets(t *testing.T) {
	addrs := sourceAddrs(1, 3)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}, addrs)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.7"), netip.MustParseAddr("127.0.0.8")}, sourceAddrs(7, 2), "-source-ip-first 7")
	require.Equal(t, 1, autoSourceIPs(2000, 28232))
	require.Equal(t, 9, autoSourceIPs(100128, 28232), "40 % of 28 232 ports is 11 292 per address")
	require.Equal(t, maxSourceIPs, autoSourceIPs(100_000_000, 28232))
}
