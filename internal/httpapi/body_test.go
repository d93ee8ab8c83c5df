package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// A refused config body names what is wrong in the contract's words
// (see also TestAnAmbiguousJSONBodyIsInvalid).
func TestARoomConfigIsReadStrictlyNamingTheField(t *testing.T) {
	env := fuzzTargetEnv(t, "config")
	for body, want := range map[string]string{
		`{"capacity":1,"capacity":2}`: "capacity appears twice",
		`{"Capacity":1}`:              `"Capacity" is not a config field`,
		`{"colour":"red"}`:            `"colour" is not a config field`,
		"{\"target_url\":\"/\xff\"}":  "body is not valid UTF-8",
		`{"capacity":1`:               "body is not valid JSON",
		`{"capacity":1} {}`:           "body has data after the JSON object",
		`null`:                        "body must be a JSON object",
		`{"opens_at":{"a":1,"a":2}}`:  "opens_at must not name a member twice",
		`{"batch_size":"5"}`:          "batch_size must be an integer",
	} {
		rec := env.serve(http.MethodPut, "/api/admin/rooms/"+fuzzRoom, "application/json", []byte(body), authHeader)
		require.Equal(t, "invalid_config", checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes()), body)
		var out struct{ Error struct{ Message string } }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
		require.Contains(t, out.Error.Message, want, body)
	}
}

// The operator token is read by the one Bearer parser: any case of the
// scheme, nothing but Bearer.
func TestTheOperatorTokenIsABearerTokenInAnyCase(t *testing.T) {
	env := fuzzTargetEnv(t, "config")
	for _, auth := range []string{"Bearer ", "bearer ", "BEARER "} {
		rec := env.serve(http.MethodPut, "/api/admin/rooms/"+fuzzRoom, "application/json", []byte(`{"capacity":3}`),
			http.Header{"Authorization": {auth + bkAdminToken}})
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", auth, rec.Body)
	}
}
