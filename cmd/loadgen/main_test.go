package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func noenv(string) string { return "" }

func TestFlagsRefuseATargetOffThisMachine(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"-url", "http://10.1.2.3:8080"}, noenv, &out)
	require.ErrorContains(t, err, "only loads this machine")
	_, err = parseFlags([]string{"-booking-url", "http://booking.example.com"}, noenv, &out)
	require.ErrorContains(t, err, "-booking-url")
}

func TestFlagDefaults(t *testing.T) {
	var out bytes.Buffer
	c, err := parseFlags(nil, noenv, &out)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8080", c.URL.String())
	require.Equal(t, c.URL, c.BookingURL)
	require.Equal(t, "demo", c.Room)
	require.True(t, c.Sockets)
}

func TestRoomConfigNeedsTheOperatorToken(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"-room-config", `{"batch_size":100}`}, noenv, &out)
	require.ErrorContains(t, err, "-admin-token")
	c, err := parseFlags([]string{"-room-config", `{"batch_size":100}`}, func(k string) string {
		if k == "WAITROOM_ADMIN_TOKEN" {
			return "tok"
		}
		return ""
	}, &out)
	require.NoError(t, err)
	require.Equal(t, "tok", c.AdminToken)
}

func TestBookingNeedsSockets(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"-book", "-sockets=false"}, noenv, &out)
	require.ErrorContains(t, err, "-book needs -sockets")
}

func TestBadCommandLineExitsTwo(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run(t.Context(), []string{"-url", "http://example.com"}, noenv, &out, &errOut))
	require.Contains(t, errOut.String(), "refusing host")
	require.Equal(t, 0, run(t.Context(), []string{"-help"}, noenv, &out, &errOut))
	require.Contains(t, errOut.String(), "-source-ips")
}

func TestPositionMessagesParseWithoutJSON(t *testing.T) {
	m := parseMessage([]byte(`{"type":"position","position":123,"ahead":122,"waiting":5000,"eta_seconds":95}`))
	require.Equal(t, message{kind: "position", position: 123}, m)
	m = parseMessage([]byte(`{"type":"position", "position": 7}`))
	require.Equal(t, message{kind: "position", position: 7}, m, "another shape still parses")
	m = parseMessage([]byte(`{"type":"admitted","entry_token":"e.y.j","expires_at":"2026-12-01T10:10:00Z","target_url":"/b"}`))
	require.Equal(t, message{kind: "admitted", token: "e.y.j"}, m)
	m = parseMessage([]byte(`{"expires_at":"2026-12-01T10:10:00Z","type":"admitted","entry_token":"a.b.c"}`))
	require.Equal(t, message{kind: "admitted", token: "a.b.c"}, m, "another shape still parses")
	m = parseMessage([]byte(`{"type":"expired","reason":"abandoned"}`))
	require.Equal(t, message{kind: "expired", reason: "abandoned"}, m)
	require.Equal(t, "unreadable", parseMessage([]byte(`nope`)).kind)
}
