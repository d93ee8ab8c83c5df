package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// What SIGTERM does, and what the log holds.

func TestShutdownNeverSaysReadyAgainClosesSocketsWithGoingAwayAndEndsWithin10s(t *testing.T) {
	b := setupSale(t)
	var sockets []*websocket.Conn
	for i := range 5 {
		ws := b.mustDial("sale", b.joinTicket("sale"), i%2 == 0)
		requirePositionMsg(t, readMsg(t, ws), int64(i+1), int64(i+1))
		sockets = append(sockets, ws)
	}

	// A load balancer's probe whose request is still arriving when the
	// shutdown starts.
	probe, err := net.Dial("tcp", b.addr)
	require.NoError(t, err)
	defer probe.Close()
	_, err = io.WriteString(probe, "GET /readyz HTTP/1.1\r\nHost: waitroom\r\n")
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // the server accepts the connection

	start := time.Now()
	b.cancel()
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), `"msg":"shutting down"`) },
		5*time.Second, 5*time.Millisecond)
	time.Sleep(20 * time.Millisecond) // the log line comes just before draining is set

	// From now until the listener closes, /readyz never says ready: it
	// answers 503, or nothing at all once the server stops taking requests.
	_, err = io.WriteString(probe, "\r\n")
	require.NoError(t, err)
	require.NoError(t, probe.SetReadDeadline(time.Now().Add(5*time.Second)))
	if resp, err := http.ReadResponse(bufio.NewReader(probe), nil); err == nil {
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		requireAPIError(t, &response{Status: resp.StatusCode, Header: resp.Header, Body: raw, resp: resp}, http.StatusServiceUnavailable, "unavailable")
	}
	fresh := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		resp, err := fresh.Get(b.base + "/readyz")
		if err != nil {
			break // the listener is closed
		}
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		_ = resp.Body.Close()
		requireAPIError(t, &response{Status: resp.StatusCode, Header: resp.Header, Body: raw, resp: resp}, http.StatusServiceUnavailable, "unavailable")
		require.Less(t, time.Since(start), 10*time.Second, "the listener closes")
	}

	for _, ws := range sockets {
		requireClosed(t, ws, websocket.CloseGoingAway)
	}
	select {
	case <-b.finished:
		require.NoError(t, b.runErr)
	case <-time.After(10*time.Second - time.Since(start)):
		t.Fatalf("Run did not return within 10 s of the shutdown")
	}
	_, err = net.DialTimeout("tcp", b.addr, time.Second)
	require.Error(t, err, "the listener is closed")
}

func TestTheLogIsJSONLinesWithRequestIDsAndNeverATicketOrAnEntryToken(t *testing.T) {
	b := setupWith(t, options{logLevel: slog.LevelDebug})
	v := b.verifier()
	b.putRoom("sale", map[string]any{"mode": "queue_all"})

	// A whole visit of two visitors: join, status, socket, admission, leave.
	first := b.join("sale", nil)
	require.Equal(t, http.StatusCreated, first.Status)
	t1 := jsonObject(t, first)["ticket"].(string)
	t2 := jsonObject(t, b.join("sale", asUser(t, "dave")))["ticket"].(string)
	secrets := []string{t1, t2, testAdminToken}

	status := b.get("/api/rooms/sale/tickets/" + t1)
	require.Equal(t, http.StatusOK, status.Status)
	requestID := status.Header.Get("X-Request-Id")
	require.NotEmpty(t, requestID, "every answer names its request")
	require.Equal(t, http.StatusOK, b.join("sale", nil, first.Cookie("wr_sale")).Status)

	ws1 := b.mustDial("sale", t1, false)
	requirePositionMsg(t, readMsg(t, ws1), 1, 2)
	ws2 := b.mustDial("sale", t2, true)
	requirePositionMsg(t, readMsg(t, ws2), 2, 2)
	require.Len(t, b.tick("sale").Admitted, 2)
	for _, c := range []struct {
		ws  *websocket.Conn
		sub string
	}{{ws1, ""}, {ws2, "dave"}} {
		m := readMsg(t, c.ws)
		require.Equal(t, "admitted", m["type"])
		token := m["entry_token"].(string)
		b.requireEntryToken(v, token, "sale", c.sub, m["expires_at"].(string))
		secrets = append(secrets, token, token[strings.LastIndex(token, ".")+1:])
	}
	m := jsonObject(t, b.get("/api/rooms/sale/tickets/"+t2))
	require.Equal(t, "admitted", m["state"])
	secrets = append(secrets, m["entry_token"].(string))

	unknown := "UnknownTicket_0123456Z"
	secrets = append(secrets, unknown)
	requireAPIError(t, b.get("/api/rooms/sale/tickets/"+unknown), http.StatusNotFound, "ticket_not_found")
	_, resp, err := b.dial("sale", unknown, false)
	require.Error(t, err)
	_ = resp.Body.Close()

	require.Equal(t, http.StatusNoContent, b.del("/api/rooms/sale/tickets/"+t1).Status)
	require.Equal(t, map[string]any{"type": "expired", "reason": "left"}, readMsg(t, ws1))
	requireClosed(t, ws1, websocket.CloseNormalClosure)
	require.Equal(t, http.StatusNoContent, b.del("/api/rooms/sale/tickets/"+t2).Status)
	require.Equal(t, map[string]any{"type": "expired", "reason": "left"}, readMsg(t, ws2))
	requireClosed(t, ws2, websocket.CloseNormalClosure)
	b.stop() // the shutdown's lines too

	log := b.logs.String()
	for _, s := range secrets {
		require.NotContains(t, log, s, "the log holds a secret")
	}
	lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	requests, sawID := 0, false
	for _, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a log line is JSON: %s", line)
		for _, k := range []string{"time", "level", "msg"} {
			require.Contains(t, rec, k, "line %s", line)
		}
		if rec["msg"] != "request" {
			continue
		}
		requests++
		id, _ := rec["request_id"].(string)
		require.NotEmpty(t, id, "a request line has a request_id: %s", line)
		require.Contains(t, rec, "route")
		require.Contains(t, rec, "status")
		sawID = sawID || id == requestID
	}
	require.GreaterOrEqual(t, requests, 12, "one line per request")
	require.True(t, sawID, "the X-Request-Id of an answer is in its log line")
}
