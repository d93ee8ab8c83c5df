package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// noRedirects is a client that shows a redirect rather than following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func operatorCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirects.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, loc
	}
	return resp.StatusCode, string(raw)
}

// Standalone with WAITROOM_ADMIN_ADDR: the seat map is an operator call like
// the rest of the operator API, served on the operator's listener only.
func TestStandaloneServesTheSeatMapOnTheOperatorListenerOnly(t *testing.T) {
	m, stop := standalone(t, io.Discard, "-admin-addr", "127.0.0.1:0")
	defer stop()
	seats := `{"seats":["A1","A2","A3"]}`
	status, body := operatorCall(t, http.MethodPut, "http://"+m.Addr()+"/api/admin/events/demo/seats", m.AdminToken(), seats)
	require.Equal(t, http.StatusNotFound, status, "%s", body)
	status, body = operatorCall(t, http.MethodPut, "http://"+m.Addr()+"/_waitroom/api/admin/events/demo/seats", m.AdminToken(), seats)
	require.Equal(t, http.StatusNotFound, status, "%s", body)
	status, body = operatorCall(t, http.MethodPut, "http://"+m.AdminAddr()+"/api/admin/events/demo/seats", m.AdminToken(), seats)
	require.Equal(t, http.StatusOK, status, "%s", body)
	status, _ = operatorCall(t, http.MethodPut, "http://"+m.AdminAddr()+"/api/admin/events/demo/seats", "wrong", seats)
	require.Equal(t, http.StatusUnauthorized, status)
}

// The operator page's link to a waiting page (rooms/{room} on the page's own
// listener) leads to where visitors see it, not to the operator's listener.
func TestOperatorListenersRoomLinksLeadToThePublicWaitingPage(t *testing.T) {
	t.Run("standalone: the main listener's port", func(t *testing.T) {
		m, stop := standalone(t, io.Discard, "-admin-addr", "127.0.0.1:0")
		defer stop()
		status, loc := operatorCall(t, http.MethodGet, "http://"+m.AdminAddr()+"/rooms/demo?lang=ko", "", "")
		require.Equal(t, http.StatusFound, status)
		_, port, _ := net.SplitHostPort(m.Addr())
		require.Equal(t, "http://127.0.0.1:"+port+"/rooms/demo?lang=ko", loc)
		resp, err := http.Get(loc)
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(page), `<html lang="ko"`, "the waiting page")
		status, _ = operatorCall(t, http.MethodGet, "http://"+m.AdminAddr()+"/rooms/Not_A_Room", "", "")
		require.Equal(t, http.StatusNotFound, status)
	})
	t.Run("WAITROOM_PUBLIC_URL", func(t *testing.T) {
		m, stop := standalone(t, io.Discard, "-admin-addr", "127.0.0.1:0", "-public-url", "https://tickets.example.com/line/")
		defer stop()
		_, loc := operatorCall(t, http.MethodGet, "http://"+m.AdminAddr()+"/rooms/demo", "", "")
		require.Equal(t, "https://tickets.example.com/line/rooms/demo", loc)
	})
	t.Run("gateway: under the prefix", func(t *testing.T) {
		g := setupGateway(t)
		_, loc := operatorCall(t, http.MethodGet, "http://"+g.main.AdminAddr()+"/rooms/shop", "", "")
		require.Equal(t, g.base+"/_waitroom/rooms/shop", loc)
	})
}
