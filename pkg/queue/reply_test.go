package queue

// A reply a script never sends is an error, never a panic: every script is
// replaced, on a real Redis, by one that answers wrong.

import (
	"maps"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/internal/testproc"
)

func TestABadScriptReplyIsAnErrorNotAPanic(t *testing.T) {
	eachOf(t, backends[:1], ConfigPatch{}, func(t *testing.T, b *bundle) {
		ticket := b.join(t).Ticket
		ops := map[string]func(*Store) error{
			"join":   func(s *Store) error { _, _, err := s.Join(b.ctx, b.room, JoinRequest{}); return err },
			"status": func(s *Store) error { _, err := s.Status(b.ctx, b.room, ticket); return err },
			"touch":  func(s *Store) error { return s.Touch(b.ctx, b.room, []string{ticket}) },
			"leave":  func(s *Store) error { return s.Leave(b.ctx, b.room, ticket) },
			"put room": func(s *Store) error {
				_, _, err := s.PutRoom(b.ctx, b.room, ConfigPatch{})
				return err
			},
			"delete room": func(s *Store) error { return s.DeleteRoom(b.ctx, b.room) },
			"stats":       func(s *Store) error { _, err := s.Stats(b.ctx, b.room); return err },
			"positions": func(s *Store) error {
				_, err := s.Positions(b.ctx, b.room, []string{ticket})
				return err
			},
			"live admission": func(s *Store) error {
				_, err := s.LiveAdmission(b.ctx, b.room, NewAdmissionID())
				return err
			},
			"count challenge": func(s *Store) error {
				_, _, err := s.CountChallenge(b.ctx, b.room, "192.0.2.1")
				return err
			},
			"tick": func(s *Store) error { _, err := s.Tick(b.ctx, b.room); return err },
		}
		newStore := func(t *testing.T, script *luascript.Script) *Store {
			s := New(b.rdb, Options{})
			s.sc = scripts{join: script, joinBatch: script, openStep: script, status: script, statusBatch: script, touch: script, leave: script, tick: script,
				putRoom: script, deleteRoom: script, stats: script, positions: script,
				admission: script, challenge: script}
			return s
		}
		// A tick has no refusals to name: any error reply is a surprise.
		testproc.BadReplies(t, "{ticket = 1, state = 2, created = 'yes', config = 3, tickets = 4}", newStore, ops,
			func(op string) bool { return op != "tick" }, append(slices.Collect(maps.Values(refusals)), ErrUnavailable)...)
	})
}

// BenchmarkDecodeStatus decodes one status reply (lib.lua's reply()).
func BenchmarkDecodeStatus(b *testing.B) {
	s := luascript.NewLoader(fstest.MapFS{"s.lua": {Data: []byte("return 1")}}, ".").Load("s.lua")
	raw := `{"created":true,"ticket":"q3Jm1Nf0cV4d7dQk2x9bYw","state":"waiting","position":12345,"waiting":99999,` +
		`"score":"1234567890123456","version":4321,"admission_ends":0,"user":"","admitted_last_minute":600,` +
		`"first_admit_ms":1796168264812,"now":1796168264812,"opens_at":0,"interval_ms":1000,"admission_id":""}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := luascript.Decode[statusReply](s, raw, nil); err != nil {
			b.Fatal(err)
		}
	}
}
