package testproc

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
)

// BadReplies checks that a store of Lua scripts meets every reply its
// scripts never send with an error, never a panic. Each bad script (a
// number, an array, an empty object, typed: an object with the caller's
// fields in the wrong types, and an unknown error code) stands in for all
// the store's scripts in turn: newStore makes a store that runs it, on
// which each op runs. The error is none of notErrs (the store's named
// refusals, its unavailability), and is luascript.ErrBadReply or, for the
// unknown code where refuses(op), a luascript.Refusal with that code.
func BadReplies[S any](t *testing.T, typed string, newStore func(t *testing.T, bad *luascript.Script) S,
	ops map[string]func(S) error, refuses func(op string) bool, notErrs ...error) {
	t.Helper()
	bad := luascript.NewLoader(fstest.MapFS{
		"number.lua":  {Data: []byte("return 7")},
		"array.lua":   {Data: []byte("return {1, 2}")},
		"empty.lua":   {Data: []byte("return cjson.encode({})")},
		"typed.lua":   {Data: []byte("return cjson.encode(" + typed + ")")},
		"unknown.lua": {Data: []byte("return cjson.encode({err = 'no_such_code'})")},
	}, ".")
	for _, script := range []string{"number.lua", "array.lua", "empty.lua", "typed.lua", "unknown.lua"} {
		for name, op := range ops {
			t.Run(script+"/"+name, func(t *testing.T) {
				s := newStore(t, bad.Load(script))
				var err error
				require.NotPanics(t, func() { err = op(s) })
				require.Error(t, err)
				for _, named := range notErrs {
					require.NotErrorIs(t, err, named, "a surprise is not a refusal")
				}
				if script == "unknown.lua" && refuses(name) {
					var r *luascript.Refusal
					require.ErrorAs(t, err, &r)
					require.Equal(t, "no_such_code", r.Code)
					return
				}
				require.ErrorIs(t, err, luascript.ErrBadReply)
			})
		}
	}
}
