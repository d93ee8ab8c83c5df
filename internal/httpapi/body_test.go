package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJSONBodiesAreReadStrictly(t *testing.T) {
	seat := fuzzTargetEnv(t, "seat")
	for _, c := range []struct{ name, body string }{
		{"a member named twice", `{"seat":"A1","seat":"A2"}`},
		{"a name in another case", `{"Seat":"A1"}`},
		{"invalid UTF-8", "{\"seat\":\"A\xff\"}"},
		{"a lone surrogate", `{"seat":"A\ud800"}`},
		{"an unknown member", `{"seat":"A1","extra":true}`},
		{"a name twice deeper down", `{"seat":"A1","x":{"y":1,"y":2}}`},
		{"data after the object", `{"seat":"A1"} {}`},
		{"not an object", `["A1"]`},
	} {
		rec := seat.serve(http.MethodPost, "/api/events/"+fuzzRoom+"/holds", "application/json", []byte(c.body), authHeader)
		require.Equal(t, http.StatusBadRequest, rec.Code, c.name)
		require.Equal(t, "invalid_body", checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes()), c.name)
	}
	rec := seat.serve(http.MethodPost, "/api/events/"+fuzzRoom+"/holds", "application/json", []byte(` {"seat":"A1"} `), authHeader)
	// Past the reader: a hold, or a seat already held (the env is shared with FuzzSeatBody).
	require.Contains(t, []int{http.StatusCreated, http.StatusConflict}, rec.Code, rec.Body.String())

	join := fuzzTargetEnv(t, "join")
	for _, body := range []string{`{"user":"alice"}`, `{"user":null}`} {
		rec := join.serve(http.MethodPost, "/api/rooms/"+fuzzRoom+"/tickets", "application/json", []byte(body), nil)
		require.Equal(t, "invalid_body", checkAPIError(t, rec.Code, rec.Header(), rec.Body.Bytes()), body)
		require.Contains(t, rec.Body.String(), "user_token", "the message says what to send instead")
	}
}

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
