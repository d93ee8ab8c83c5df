package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			_, _ = io.WriteString(w, `{"status":"ready"}`)
		case "/slow":
			time.Sleep(500 * time.Millisecond)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	for _, tc := range []struct {
		name string
		args []string
		env  string // HEALTHCHECK_URL
		want int
	}{
		{"ready", []string{srv.URL + "/readyz"}, "", 0},
		{"503", []string{srv.URL + "/draining"}, "", 1},
		{"timeout", []string{"-timeout", "50ms", srv.URL + "/slow"}, "", 1},
		{"refused", []string{closed.URL + "/readyz"}, "", 1},
		{"no url", nil, "", 2},
		{"url from the environment", nil, srv.URL + "/readyz", 0},
		{"the argument before the environment", []string{srv.URL + "/draining"}, srv.URL + "/readyz", 1},
		{"two urls", []string{srv.URL, srv.URL}, srv.URL + "/readyz", 2},
		{"bad flag", []string{"-nope", srv.URL}, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(string) string { return tc.env }
			if got := run(tc.args, getenv, io.Discard); got != tc.want {
				t.Fatalf("run(%q) = %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}
