package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Hostile requests against the running server: each gets the status and
// code it must, and changes nothing in Redis.

// hostile is one hostile request and the answer it must get. It is sent by
// the client (req), or as raw bytes over TCP (raw) for what the client will
// not send, or by send for what needs a conversation.
type hostile struct {
	name string
	req  request
	raw  string
	send func(t *testing.T, b *bundle) *response
	// status and code of the answer; code "" means net/http itself answers,
	// before any handler, in plain text: a malformed HTTP request.
	status int
	code   string
}

// rawExchange writes raw to a new connection and reads one answer.
func rawExchange(t *testing.T, b *bundle, raw string) *response {
	t.Helper()
	conn, err := net.Dial("tcp", b.addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(15*time.Second)))
	go func() { _, _ = io.WriteString(conn, raw) }() // the server may answer before it has read everything
	return readRawResponse(t, conn)
}

func readRawResponse(t *testing.T, conn net.Conn) *response {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: body, resp: resp}
}

// endlessBody joins with a chunked body that never ends: 1 KiB chunks of
// spaces inside a JSON object, as fast as the server takes them. The server
// must answer 413 once 8 KiB have passed, without waiting for the end.
func endlessBody(t *testing.T, b *bundle) *response {
	t.Helper()
	conn, err := net.Dial("tcp", b.addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, "POST /api/rooms/sale/tickets HTTP/1.1\r\nHost: waitroom\r\n"+
		"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n")
	require.NoError(t, err)
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		chunk := fmt.Sprintf("400\r\n%s\r\n", strings.Repeat(" ", 1024))
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := io.WriteString(conn, chunk); err != nil {
				return
			}
			n += 1024
		}
	}()
	r := readRawResponse(t, conn)
	close(stop)
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	n := <-sent
	t.Logf("endless body: answered %d after %d KiB sent", r.Status, n>>10)
	require.True(t, r.resp.Close, "Connection: close: the server reads no more of the body")
	return r
}

func TestHostileRequestsGetTheirErrorAndChangeNothing(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all", "capacity": 3})
	ticket := b.joinTicket("sale")
	b.join("sale", asUser(t, "known"))

	join := func(body any, header ...string) request {
		r := request{method: http.MethodPost, path: "/api/rooms/sale/tickets", body: body}
		if len(header) == 2 {
			r.header = http.Header{header[0]: {header[1]}}
		}
		return r
	}
	config := func(body any, header ...string) request {
		r := request{method: http.MethodPut, path: "/api/admin/rooms/sale", body: body, admin: true}
		if len(header) == 2 {
			r.header = http.Header{header[0]: {header[1]}}
		}
		return r
	}
	get := func(path string) request { return request{method: http.MethodGet, path: path} }
	long := strings.Repeat("x", 100_000)

	rows := []hostile{
		// Unknown methods.
		{name: "PATCH on join", req: request{method: http.MethodPatch, path: "/api/rooms/sale/tickets"}, status: 405, code: "method_not_allowed"},
		{name: "TRACE on join", req: request{method: http.MethodTrace, path: "/api/rooms/sale/tickets"}, status: 405, code: "method_not_allowed"},
		{name: "PUT on a ticket", req: request{method: http.MethodPut, path: "/api/rooms/sale/tickets/" + ticket}, status: 405, code: "method_not_allowed"},
		{name: "TRACE on the operator API", req: request{method: http.MethodTrace, path: "/api/admin/rooms/sale", admin: true}, status: 405, code: "method_not_allowed"},
		{name: "PATCH on the operator API", req: request{method: http.MethodPatch, path: "/api/admin/rooms/sale", body: `{"capacity":1}`, admin: true}, status: 405, code: "method_not_allowed"},
		{name: "made-up method", req: request{method: "BREW", path: "/api/rooms/sale/tickets"}, status: 405, code: "method_not_allowed"},
		{name: "CONNECT to an API path", raw: "CONNECT /api/rooms/sale/tickets HTTP/1.1\r\nHost: waitroom\r\n\r\n", status: 405, code: "method_not_allowed"},

		// Wrong content types.
		{name: "join as text/plain", req: join(`{"user":"a"}`, "Content-Type", "text/plain"), status: 400, code: "invalid_body"},
		{name: "join as a form", req: join(`user=a`, "Content-Type", "application/x-www-form-urlencoded"), status: 400, code: "invalid_body"},
		{name: "join as multipart", req: join("--x\r\n\r\n--x--", "Content-Type", "multipart/form-data; boundary=x"), status: 400, code: "invalid_body"},
		{name: "join with a list of content types", req: join(`{"user":"a"}`, "Content-Type", "application/json, text/plain"), status: 400, code: "invalid_body"},
		{name: "config as text/plain", req: config(`{"capacity":1}`, "Content-Type", "text/plain"), status: 400, code: "invalid_body"},

		// Duplicate and unknown JSON fields.
		{name: "join naming user twice", req: join(`{"user":"a","user":"b"}`), status: 400, code: "invalid_body"},
		{name: "join naming user twice in two cases", req: join(`{"user":"a","USER":"known"}`), status: 400, code: "invalid_body"},
		{name: "join with a field in another case", req: join(`{"User":"a"}`), status: 400, code: "invalid_body"},
		{name: "join with an unknown field", req: join(`{"user":"a","admin":true}`), status: 400, code: "invalid_body"},
		{name: "config naming capacity twice", req: config(`{"capacity":1,"capacity":1000}`), status: 400, code: "invalid_config"},
		{name: "config with an unknown field", req: config(`{"capacity":1,"owner":"me"}`), status: 400, code: "invalid_config"},

		// Huge and negative numbers.
		{name: "config batch_size 1e400", req: config(`{"batch_size":1e400}`), status: 400, code: "invalid_config"},
		{name: "config capacity 99999999999999999999", req: config(`{"capacity":99999999999999999999}`), status: 400, code: "invalid_config"},
		{name: "config interval_ms 2^63", req: config(`{"interval_ms":9223372036854775808}`), status: 400, code: "invalid_config"},
		{name: "config capacity -1", req: config(`{"capacity":-1}`), status: 400, code: "invalid_config"},
		{name: "config session_ttl_s -1e3", req: config(`{"session_ttl_s":-1e3}`), status: 400, code: "invalid_config"},
		{name: "join user as a huge number", req: join(`{"user":1e400}`), status: 400, code: "invalid_body"},
		{name: "ticket -1", req: get("/api/rooms/sale/tickets/-1"), status: 404, code: "ticket_not_found"},

		// Unicode room ids.
		{name: "room ümlaut (the client percent-encodes it)", req: request{method: http.MethodPost, path: "/api/rooms/ümlaut/tickets"}, status: 400, code: "invalid_room"},
		{name: "room ümlaut percent-encoded", req: request{method: http.MethodPost, path: "/api/rooms/%C3%BCmlaut/tickets"}, status: 400, code: "invalid_room"},
		{name: "room ümlaut as raw UTF-8", raw: "POST /api/rooms/\xc3\xbcmlaut/tickets HTTP/1.1\r\nHost: waitroom\r\nContent-Length: 0\r\n\r\n", status: 400, code: "invalid_room"},
		{name: "room in fullwidth letters", req: request{method: http.MethodPost, path: "/api/rooms/ｓａｌｅ/tickets"}, status: 400, code: "invalid_room"},
		{name: "room with a right-to-left mark", req: get("/api/rooms/sale%E2%80%8F"), status: 400, code: "invalid_room"},
		{name: "waiting page of ümlaut", req: get("/rooms/%C3%BCmlaut"), status: 400, code: "invalid_room"},

		// Path traversal.
		{name: "room ..%2f..%2fetc", req: request{method: http.MethodPost, path: "/api/rooms/..%2f..%2fetc/tickets"}, status: 400, code: "invalid_room"},
		{name: "room .. in the status path", req: get("/api/rooms/../tickets/" + ticket), status: 400, code: "invalid_room"},
		{name: "ticket ..%2f..%2fetc%2fpasswd", req: get("/api/rooms/sale/tickets/..%2f..%2fetc%2fpasswd"), status: 404, code: "ticket_not_found"},
		{name: "static ../../go.mod", req: get("/static/../../go.mod"), status: 404, code: "not_found"},
		{name: "static ..%2f..%2fgo.mod", req: get("/static/..%2f..%2fgo.mod"), status: 404, code: "not_found"},
		{name: "static %2e%2e/web.go", req: get("/static/%2e%2e/web.go"), status: 404, code: "not_found"},
		{name: "static directory", req: get("/static/"), status: 404, code: "not_found"},
		{name: "page /rooms/%2e%2e", req: get("/rooms/%2e%2e"), status: 400, code: "invalid_room"},
		{name: "raw /../../etc/passwd", raw: "GET /../../etc/passwd HTTP/1.1\r\nHost: waitroom\r\n\r\n", status: 404, code: "not_found"},

		// Oversized headers and URLs: net/http refuses them itself (its
		// MaxHeaderBytes, 16 KiB), in plain text, before any handler.
		{name: "a 100 000-character header", req: request{method: http.MethodGet, path: "/api/rooms/sale", header: http.Header{"X-Big": {long}}}, status: 431},
		{name: "a 100 000-character cookie on join", req: request{method: http.MethodPost, path: "/api/rooms/sale/tickets", header: http.Header{"Cookie": {"wr_sale=" + long}}}, status: 431},
		{name: "a 100 000-character URL", req: get("/api/rooms/sale/tickets/" + long), status: 431},
		{name: "a 10 000-character ticket", req: get("/api/rooms/sale/tickets/" + long[:10_000]), status: 404, code: "ticket_not_found"},

		// Bodies too large, however they come.
		{name: "a body that never ends", send: endlessBody, status: 413, code: "body_too_large"},
		{name: "a Content-Length of 1 MB", raw: "POST /api/rooms/sale/tickets HTTP/1.1\r\nHost: waitroom\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{", status: 413, code: "body_too_large"},
		{name: "an impossible Content-Length", raw: "POST /api/rooms/sale/tickets HTTP/1.1\r\nHost: waitroom\r\nContent-Length: 99999999999999999999\r\n\r\n", status: 400},
		{name: "two different Content-Lengths", raw: "POST /api/rooms/sale/tickets HTTP/1.1\r\nHost: waitroom\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", status: 400},

		// NUL bytes.
		{name: "NUL in a join body", req: join("{\"user\":\"a\x00b\"}"), status: 400, code: "invalid_body"},
		{name: "escaped NUL in user", req: join(`{"user":"a\u0000b"}`), status: 400, code: "invalid_body"},
		{name: "NUL in a room id", req: request{method: http.MethodPost, path: "/api/rooms/sa%00le/tickets"}, status: 400, code: "invalid_room"},
		{name: "NUL in a ticket", req: get("/api/rooms/sale/tickets/" + ticket[:10] + "%00" + ticket[11:]), status: 404, code: "ticket_not_found"},
		{name: "NUL in a config body", req: config("{\"target_url\":\"/x\x00\"}"), status: 400, code: "invalid_config"},
		{name: "NUL in a header", raw: "GET /api/rooms/sale HTTP/1.1\r\nHost: waitroom\r\nX-A: a\x00b\r\n\r\n", status: 400},
		{name: "NUL in the request line", raw: "GET /api/rooms/sa\x00le HTTP/1.1\r\nHost: waitroom\r\n\r\n", status: 400},

		// Invalid UTF-8 and deep nesting.
		{name: "invalid UTF-8 in user", req: join("{\"user\":\"a\xff\xfeb\"}"), status: 400, code: "invalid_body"},
		{name: "an overlong UTF-8 '/' in user", req: join("{\"user\":\"\xc0\xaf\"}"), status: 400, code: "invalid_body"},
		{name: "a lone surrogate in user", req: join("{\"user\":\"\xed\xa0\x80\"}"), status: 400, code: "invalid_body"},
		{name: "invalid UTF-8 in a config", req: config("{\"target_url\":\"/\xff\"}"), status: 400, code: "invalid_config"},
		{name: "JSON nested 10 000 deep in a join", req: join(strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)), status: 413, code: "body_too_large"},
		{name: "JSON nested 4 000 deep in a join (under 8 KiB)", req: join(strings.Repeat("[", 4_000) + strings.Repeat("]", 4_000)), status: 400, code: "invalid_body"},
		{name: "JSON nested 1 300 deep in a config", req: config(strings.Repeat(`{"a":`, 1_300) + "1" + strings.Repeat("}", 1_300)), status: 400, code: "invalid_config"},

		// Long user ids: the limit is 128 bytes, not characters.
		{name: "a user of 129 bytes", req: join(`{"user":"` + strings.Repeat("u", 129) + `"}`), status: 400, code: "invalid_body"},
		{name: "a user of 43 euro signs (129 bytes)", req: join(`{"user":"` + strings.Repeat("€", 43) + `"}`), status: 400, code: "invalid_body"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			var r *response
			before := b.snapshot()
			switch {
			case row.send != nil:
				r = row.send(t, b)
			case row.raw != "":
				r = rawExchange(t, b, row.raw)
			default:
				var err error
				r, err = b.trySend(row.req)
				require.NoError(t, err)
			}
			t.Logf("%d %s", r.Status, bytes.TrimSpace(r.Body[:min(len(r.Body), 60)]))
			if row.code != "" {
				requireAPIError(t, r, row.status, row.code)
			} else {
				require.Equal(t, row.status, r.Status, "body: %.200s", r.Body)
				require.True(t, bytes.HasPrefix([]byte(r.Header.Get("Content-Type")), []byte("text/plain")),
					"net/http's own answer: %q", r.Header.Get("Content-Type"))
			}
			require.Equal(t, before, b.snapshot(), "a hostile request changed Redis")
		})
	}

	// The server is unharmed: the line is as it was, and takes a join.
	require.Equal(t, http.StatusOK, b.get("/healthz").Status)
	m := jsonObject(t, b.get("/api/rooms/sale"))
	require.EqualValues(t, 2, num(t, m["waiting"]))
	require.EqualValues(t, 3, num(t, m["capacity"]))
	r := b.join("sale", asUser(t, strings.Repeat("u", 128)))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.NotContains(t, b.logs.String(), `"level":"ERROR"`)
}
