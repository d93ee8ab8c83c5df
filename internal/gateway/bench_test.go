package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// site answers every request as nginx answers the load script's: 1 KiB
// with nginx's headers. In process, so a benchmark counts the gateway's own
// work and allocations (and ReverseProxy's), not the sockets'.
type site struct{ body []byte }

func (s site) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Request: r, ContentLength: int64(len(s.body)),
		Header: http.Header{"Server": {"nginx"}, "Date": {"Wed, 02 Dec 2026 06:00:00 GMT"}, "Content-Type": {"text/plain"},
			"Content-Length": {strconv.Itoa(len(s.body))}, "Last-Modified": {"Wed, 02 Dec 2026 05:00:00 GMT"},
			"Etag": {`"692e7f50-400"`}, "Accept-Ranges": {"bytes"}},
		Body: io.NopCloser(bytes.NewReader(s.body))}, nil
}

type benchBundle struct {
	g      *Gateway
	cookie string // an admitted visitor's wr_entry_shop
}

func setupBench(b *testing.B) benchBundle {
	ctx := context.Background()
	store := queue.New(redistest.Start(b).Client(), queue.Options{})
	mode, capacity, routes := queue.ModeAuto, 0, []string{"/shop/"}
	_, _, err := store.PutRoom(ctx, "shop", queue.ConfigPatch{Mode: &mode, Capacity: &capacity, Routes: &routes})
	require.NoError(b, err)
	st, _, err := store.Join(ctx, "shop", queue.JoinRequest{})
	require.NoError(b, err)
	require.Equal(b, queue.StateAdmitted, st.State)

	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(b, err)
	signer := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{})
	tok, err := signer.Sign(entrytoken.Claims{Room: "shop", Subject: queue.Subject(st.User, st.AdmissionID), ID: st.AdmissionID,
		ExpiresAt: st.AdmissionEnds})
	require.NoError(b, err)
	verifier, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil }})
	require.NoError(b, err)
	checker, err := NewChecker(CheckerOptions{Verifier: verifier, Store: store})
	require.NoError(b, err)
	up, _ := url.Parse("http://127.0.0.1:1")
	g, err := New(Options{Upstream: up, App: http.NotFoundHandler(), Checker: checker, Rooms: store,
		WriteError: func(w http.ResponseWriter, _ *http.Request, err error) { http.Error(w, err.Error(), 500) },
		Transport:  site{body: bytes.Repeat([]byte("x"), 1024)}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	require.NoError(b, g.Refresh(ctx))
	return benchBundle{g: g, cookie: EntryCookie("shop") + "=" + tok}
}

// discard is a ResponseWriter that keeps nothing but its headers, and
// takes deadlines as the server's does.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header              { return d.h }
func (d *discard) Write(p []byte) (int, error)      { return len(p), nil }
func (d *discard) WriteHeader(int)                  {}
func (d *discard) Flush()                           {}
func (d *discard) SetReadDeadline(time.Time) error  { return nil }
func (d *discard) SetWriteDeadline(time.Time) error { return nil }

func benchPath(b *testing.B, path string) {
	bb := setupBench(b)
	req := httptest.NewRequest(http.MethodGet, "http://shop.example"+path, nil)
	req.Header.Set("Cookie", bb.cookie)
	req.Header.Set("User-Agent", "wrk")
	w := &discard{h: http.Header{}}
	bb.g.ServeHTTP(w, req) // the token and admission in the caches
	require.Equal(b, "bytes", w.h.Get("Accept-Ranges"), "the site's answer")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		bb.g.ServeHTTP(w, req)
	}
}

// BenchmarkAdmittedRequest is the gateway's own cost of a request of an
// admitted visitor (entry check, rewrite, ReverseProxy), the site in
// process.
func BenchmarkAdmittedRequest(b *testing.B) { benchPath(b, "/shop/x") }

// BenchmarkUnprotectedRequest is the same for a path no room protects.
func BenchmarkUnprotectedRequest(b *testing.B) { benchPath(b, "/other") }

// BenchmarkFromRequest is the entry check of an admitted visitor, from the
// caches.
func BenchmarkFromRequest(b *testing.B) {
	bb := setupBench(b)
	req := httptest.NewRequest(http.MethodGet, "http://shop.example/shop/x", nil)
	req.Header.Set("Cookie", bb.cookie)
	ctx := context.Background()
	_, err := bb.g.opt.Checker.FromRequest(ctx, req, "shop")
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, _ = bb.g.opt.Checker.FromRequest(ctx, req, "shop")
	}
}
