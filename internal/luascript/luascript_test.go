package luascript_test

// The loader and the reply decoding against a real Redis: cjson's encoding
// and NOSCRIPT are Redis's behaviour.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/internal/redistest"
)

type bundle struct {
	ctx context.Context
	rdb *redis.Client
	l   *luascript.Loader
}

func setup(t *testing.T) bundle {
	t.Helper()
	ctx := t.Context()
	fsys := fstest.MapFS{
		"lua/lib.lua":    {Data: []byte("local function answer(r)\n  if type(r) == 'string' then return cjson.encode({err = r}) end\n  return cjson.encode(r)\nend")},
		"lua/reply.lua":  {Data: []byte("return answer(cjson.decode(ARGV[1]))")},
		"lua/raw.lua":    {Data: []byte("return ARGV[1]")},
		"lua/number.lua": {Data: []byte("return 7")},
		"lua/refuse.lua": {Data: []byte("return answer(ARGV[1])")},
	}
	return bundle{ctx: ctx, rdb: redistest.Start(t).Client(), l: luascript.NewLoader(fsys, "lua")}
}

type row struct {
	State string `json:"state"`
	Score int64  `json:"score,string"`
}

type reply struct {
	N    int64             `json:"n"`
	S    string            `json:"s"`
	Opt  string            `json:"opt,omitempty"`
	Rows []row             `json:"rows,omitempty"`
	Tags []string          `json:"tags"`
	Meta map[string]string `json:"meta,omitempty"`
	B    bool              `json:"b,omitempty"`
}

func TestDecodeReadsAStructuredReply(t *testing.T) {
	b := setup(t)
	got, err := luascript.Do[reply](b.ctx, b.rdb, b.l.Load("reply.lua"), nil,
		`{"n":1735689600000,"s":"x","rows":[{"state":"waiting","score":"7205759403792793"}],"tags":{},"meta":[],"extra":1}`)
	require.NoError(t, err)
	require.Equal(t, reply{N: 1735689600000, S: "x", Rows: []row{{"waiting", 7205759403792793}}, Tags: []string{},
		Meta: map[string]string{}}, got, "an empty Lua table is an empty list or map; unknown members are ignored")
}

func TestARefusalIsARefusalWithItsCode(t *testing.T) {
	b := setup(t)
	_, err := luascript.Do[reply](b.ctx, b.rdb, b.l.Load("refuse.lua"), nil, "room_not_found")
	var r *luascript.Refusal
	require.ErrorAs(t, err, &r)
	require.Equal(t, luascript.Refusal{Script: "refuse.lua", Code: "room_not_found"}, *r)
}

func TestABadReplyIsAnErrorNotAPanic(t *testing.T) {
	b := setup(t)
	for _, c := range []struct{ name, script, arg string }{
		{"a number, not a cjson string", "number.lua", ""},
		{"not JSON", "raw.lua", "nope"},
		{"an array", "raw.lua", `[1,2]`},
		{"a missing field", "raw.lua", `{"n":1,"tags":[]}`},
		{"a missing nested field", "raw.lua", `{"n":1,"s":"","tags":[],"rows":[{"state":"w"}]}`},
		{"a string for a number", "raw.lua", `{"n":"1","s":"","tags":[]}`},
		{"a number for a string", "raw.lua", `{"n":1,"s":2,"tags":[]}`},
		{"a fraction for an integer", "raw.lua", `{"n":1.5,"s":"","tags":[]}`},
		{"a score that is not an integer", "raw.lua", `{"n":1,"s":"","tags":[],"rows":[{"state":"w","score":"x"}]}`},
		{"an object for a list", "raw.lua", `{"n":1,"s":"","tags":{"a":1}}`},
		{"a list for a map", "raw.lua", `{"n":1,"s":"","tags":[],"meta":["a"]}`},
		{"an empty code", "raw.lua", `{"err":""}`},
		{"an integer too large", "raw.lua", `{"n":9223372036854775808,"s":"","tags":[]}`},
		{"an exponent for an integer", "raw.lua", `{"n":1e3,"s":"","tags":[]}`},
		{"null for an integer", "raw.lua", `{"n":null,"s":"","tags":[]}`},
		{"a string for a boolean", "raw.lua", `{"n":1,"s":"","tags":[],"rows":[],"b":"true"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := luascript.Do[reply](b.ctx, b.rdb, b.l.Load(c.script), nil, c.arg)
			require.ErrorIs(t, err, luascript.ErrBadReply)
			require.ErrorContains(t, err, c.script)
		})
	}
}

func TestDecodeReadsEscapesAndNegativeNumbers(t *testing.T) {
	b := setup(t)
	got, err := luascript.Do[reply](b.ctx, b.rdb, b.l.Load("reply.lua"), nil,
		`{"n":-42,"s":"a\"b\u00e9/\\","tags":["x\ny"],"b":true,"opt":"plain"}`)
	require.NoError(t, err)
	require.Equal(t, reply{N: -42, S: "a\"b\u00e9/\\", Tags: []string{"x\ny"}, B: true, Opt: "plain"}, got)
}

func TestRunManyRunsEveryCallAndLoadsAScriptRedisLacks(t *testing.T) {
	b := setup(t)
	s := b.l.Load("raw.lua")
	require.NoError(t, b.rdb.ScriptFlush(b.ctx).Err())
	calls := []luascript.Call{{Args: []any{"a"}}, {Args: []any{"b"}}}
	for range 2 { // not loaded, then loaded
		vals, errs := s.RunMany(b.ctx, b.rdb, calls)
		require.Equal(t, []error{nil, nil}, errs)
		require.Equal(t, []any{"a", "b"}, vals)
	}
	vals, errs := s.RunMany(b.ctx, b.rdb, nil)
	require.Empty(t, vals)
	require.Empty(t, errs)
}

func TestARedisErrorNamesTheScript(t *testing.T) {
	b := setup(t)
	_, err := luascript.Do[reply](b.ctx, b.rdb, b.l.Load("reply.lua"), nil, "not json")
	require.Error(t, err)
	require.NotErrorIs(t, err, luascript.ErrBadReply)
	require.ErrorContains(t, err, "reply.lua")
	var r *luascript.Refusal
	require.False(t, errors.As(err, &r))
}

func TestLoadPanicsOnAMissingFile(t *testing.T) {
	l := luascript.NewLoader(fstest.MapFS{}, "lua")
	require.PanicsWithValue(t, fmt.Sprint("luascript: missing embedded script lua/x.lua"), func() { l.Load("x.lua") })
}
