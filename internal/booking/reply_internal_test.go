package booking

// A reply a script never sends is an error, never a panic: every script is
// replaced, on a real Redis, by one that answers wrong.

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/pkg/queue"
)

var badScripts = luascript.NewLoader(fstest.MapFS{
	"number.lua":  {Data: []byte("return 7")},
	"array.lua":   {Data: []byte("return {'a', 'b'}")},
	"empty.lua":   {Data: []byte("return cjson.encode({})")},
	"typed.lua":   {Data: []byte("return cjson.encode({created = 1, ends = 'x', booking = 2, freed = 3, released = '1', staged = {}, now = 'x', seats = 4, taken = 5})")},
	"unknown.lua": {Data: []byte("return cjson.encode({err = 'no_such_code'})")},
}, ".")

func TestABadScriptReplyIsAnErrorNotAPanic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := redistest.Start(t).Client()
	ops := map[string]func(*Store) error{
		"put seat map": func(s *Store) error { _, err := s.PutSeatMap(ctx, "r", []string{"A1"}); return err },
		"seats":        func(s *Store) error { _, err := s.Seats(ctx, "r", "ann"); return err },
		"hold":         func(s *Store) error { _, _, err := s.Hold(ctx, "r", "ann", "A1"); return err },
		"book":         func(s *Store) error { _, _, err := s.Book(ctx, "r", "ann", "A1"); return err },
		"cancel":       func(s *Store) error { return s.Cancel(ctx, "r", "ann", "A1") },
		"release":      func(s *Store) error { _, err := s.ReleaseHolds(ctx, "r", "ann"); return err },
		"mine":         func(s *Store) error { _, err := s.Mine(ctx, "r", "ann"); return err },
	}
	for _, bad := range []string{"number.lua", "array.lua", "empty.lua", "typed.lua", "unknown.lua"} {
		for name, op := range ops {
			t.Run(bad+"/"+name, func(t *testing.T) {
				s, err := New(rdb, Options{})
				require.NoError(t, err)
				script := badScripts.Load(bad)
				s.sc = scripts{hold: script, book: script, cancel: script, release: script, list: script,
					mine: script, stage: script, commit: script}
				require.NotPanics(t, func() { err = op(s) })
				require.Error(t, err)
				for _, named := range refusals {
					require.NotErrorIs(t, err, named, "a surprise is not a refusal")
				}
				require.NotErrorIs(t, err, queue.ErrUnavailable)
				if bad == "unknown.lua" {
					var r *luascript.Refusal
					require.ErrorAs(t, err, &r)
					return
				}
				require.ErrorIs(t, err, luascript.ErrBadReply)
			})
		}
	}
}
