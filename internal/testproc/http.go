package testproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Answer is an HTTP answer read in full.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

func (a Answer) String() string { return fmt.Sprintf("%d %s", a.Status, bytes.TrimSpace(a.Body)) }

// ErrorCode is the code of a docs/API.md error body, or "".
func (a Answer) ErrorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.Body, &e)
	return e.Error.Code
}

// Send makes one request and reads the answer in full. A body (unless nil)
// goes with Content-Type application/json: a string or []byte as it is, an
// io.Reader as it is and chunked, anything else marshalled to JSON. token
// is sent as the bearer token unless empty.
func Send(ctx context.Context, c *http.Client, method, url string, body any, token string) (Answer, error) {
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	case io.Reader:
		rd = v
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return Answer{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return Answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: data}, err
}

// HangingServer is an HTTP server that never answers: each request waits
// until its client gives up or the test ends.
func HangingServer(t testing.TB) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv
}

// KeyServer is a JWKS endpoint a test controls: it serves the set given
// last, or fails with the status set, and counts its fetches.
type KeyServer struct {
	URL     string
	Client  *http.Client
	fetches atomic.Int64
	body    atomic.Pointer[[]byte]
	status  atomic.Int64
}

// StartKeyServer serves body as a JWKS until the test ends. Each fetch first
// waits delay, so that concurrent misses of a cache pile up behind one.
func StartKeyServer(t testing.TB, body []byte, delay time.Duration) *KeyServer {
	t.Helper()
	k := &KeyServer{}
	k.Serve(body)
	k.SetStatus(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.fetches.Add(1)
		time.Sleep(delay)
		if code := int(k.status.Load()); code != http.StatusOK {
			http.Error(w, "down", code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*k.body.Load())
	}))
	t.Cleanup(srv.Close)
	k.URL, k.Client = srv.URL, srv.Client()
	return k
}

// Serve has the following fetches get body.
func (k *KeyServer) Serve(body []byte) { k.body.Store(&body) }

// SetStatus has the following fetches answer code; http.StatusOK serves the
// set again.
func (k *KeyServer) SetStatus(code int) { k.status.Store(int64(code)) }

// Fetches is how many fetches the server has had.
func (k *KeyServer) Fetches() int64 { return k.fetches.Load() }

// TicketStatus is the body of a join or a status answer of docs/API.md.
type TicketStatus struct {
	Ticket     string `json:"ticket"`
	State      string `json:"state"`
	Position   int64  `json:"position"`
	Waiting    int64  `json:"waiting"`
	EntryToken string `json:"entry_token"`
	ExpiresAt  string `json:"expires_at"`
}

// PutRoom creates or updates a room through the operator API at base (a
// waitroom's http://host:port) and fails the test unless it answers 200 or
// 201.
func PutRoom(t testing.TB, ctx context.Context, c *http.Client, base, adminToken, room string, cfg map[string]any) {
	t.Helper()
	a, err := Send(ctx, c, http.MethodPut, base+"/api/admin/rooms/"+room, cfg, adminToken)
	require.NoError(t, err)
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, a.Status, "PUT room %s: %s", room, a)
}
