package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// A join whose visitor hung up while it waited for its batch is not our
// failure: 499, never a 500 logged as one.
func TestARequestTheClientCancelledIsNotAnInternalError(t *testing.T) {
	ae := toAPIError(fmt.Errorf("join: %w", context.Canceled))
	require.Equal(t, 499, ae.Status)
	require.Less(t, ae.Status, http.StatusInternalServerError)
	require.Equal(t, "client_closed_request", ae.Code)
}
