package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewRoomTakesTheDefaultsOfTheContract(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		cfg, err := b.store.Room(b.ctx, b.room)
		require.NoError(t, err)
		require.Equal(t, DefaultConfig(b.room), cfg)
		require.Equal(t, Config{Capacity: 100, BatchSize: 10, IntervalMS: 1000, SessionTTLS: 600, Mode: ModeAuto,
			AbandonAfterS: 120, TargetURL: "/booking/" + b.room, Routes: []string{}}, cfg)
	})
}

func TestPutUpdatesOnlyTheGivenFields(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		opens := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		cfg, created, err := b.store.PutRoom(b.ctx, b.room, ConfigPatch{BatchSize: new(50), OpensAtSet: true, OpensAt: &opens})
		require.NoError(t, err)
		require.False(t, created, "the room existed")
		want := DefaultConfig(b.room)
		want.BatchSize = 50
		want.OpensAt = &opens
		require.Equal(t, want, cfg)

		cfg = b.put(t, ConfigPatch{OpensAtSet: true}) // "opens_at": null clears it
		require.Nil(t, cfg.OpensAt)
		require.Equal(t, 50, cfg.BatchSize)
	})
}

func TestRoomsAreListedGotAndDeleted(t *testing.T) {
	each(t, ConfigPatch{Capacity: new(7)}, func(t *testing.T, b *bundle) {
		rooms, err := b.store.Rooms(b.ctx)
		require.NoError(t, err)
		var found *RoomConfig
		for i := range rooms {
			if rooms[i].Room == b.room {
				found = &rooms[i]
			}
		}
		require.NotNil(t, found)
		require.Equal(t, 7, found.Config.Capacity)

		st := b.join(t)
		require.NoError(t, b.store.DeleteRoom(b.ctx, b.room))
		_, err = b.store.Room(b.ctx, b.room)
		require.ErrorIs(t, err, ErrRoomNotFound)
		_, err = b.store.Status(b.ctx, b.room, st.Ticket)
		require.ErrorIs(t, err, ErrRoomNotFound)
		require.ErrorIs(t, b.store.DeleteRoom(b.ctx, b.room), ErrRoomNotFound)
		keys, err := b.rdb.Keys(b.ctx, "wr:{"+b.room+"}:*").Result()
		require.NoError(t, err)
		// Only the sale's history stays, to be read after the sale, and
		// it expires.
		var left []string
		for _, k := range keys {
			if ttl := b.rdb.TTL(b.ctx, k).Val(); !strings.Contains(k, "}:h") || ttl <= 0 || ttl > DefaultHistoryRetention {
				left = append(left, k)
			}
		}
		require.Empty(t, left, "nothing of the room is left in Redis but its history")
	})
}

func TestBadConfigsAreRefusedNamingTheFieldAndChangeNothing(t *testing.T) {
	cases := []struct {
		body, field string
	}{
		{`{"batch_size":0}`, "batch_size"},
		{`{"batch_size":10001}`, "batch_size"},
		{`{"batch_size":1.5}`, "batch_size"},
		{`{"batch_size":"5"}`, "batch_size"},
		{`{"capacity":-1}`, "capacity"},
		{`{"capacity":1e30}`, "capacity"},
		{`{"interval_ms":99}`, "interval_ms"},
		{`{"interval_ms":900001}`, "interval_ms"},
		{`{"session_ttl_s":9}`, "session_ttl_s"},
		{`{"session_ttl_s":86401}`, "session_ttl_s"},
		{`{"abandon_after_s":-5}`, "abandon_after_s"},
		{`{"mode":"fast"}`, "mode"},
		{`{"paused":"yes"}`, "paused"},
		{`{"opens_at":"tomorrow"}`, "opens_at"},
		{`{"target_url":"javascript:alert(1)"}`, "target_url"},
		{`{"target_url":"//evil.example"}`, "target_url"},
		{`{"title":5}`, "title"},
		{`{"title":null}`, "title"},
		{`{"title":"two\nlines"}`, "title"},
		{`{"message":"bell\u0007"}`, "message"},
		{`{"message":["a"]}`, "message"},
		{`{"colour":"red"}`, `"colour"`},
		{`{"":1}`, `""`},
		{`{"batch_size":5,"batch_size":6}`, "batch_size"},
		{`{"Batch_Size":5}`, `"Batch_Size"`},
		{"{\"title\":\"\xff\"}", "body"},
		{`{"title":"\ud800"}`, "body"},
		{`{"opens_at":{"a":1,"a":2}}`, "opens_at"},
		{`{"capacity":1`, "body"},
		{`null`, "body"},
		{``, "body"},
		{`[1,2]`, "body"},
		{`{"batch_size":5} {}`, "body"},
	}
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		before, err := b.rdb.HGetAll(b.ctx, roomKeys(b.room).cfg).Result()
		require.NoError(t, err)
		for _, c := range cases {
			_, err := DecodeConfigPatch([]byte(c.body))
			var ce *ConfigError
			require.ErrorAs(t, err, &ce, c.body)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Equal(t, c.field, ce.Field, c.body)
		}
		// A patch built in Go is validated by the store too.
		_, _, err = b.store.PutRoom(b.ctx, b.room, ConfigPatch{BatchSize: new(0)})
		require.ErrorIs(t, err, ErrInvalidConfig)
		after, err := b.rdb.HGetAll(b.ctx, roomKeys(b.room).cfg).Result()
		require.NoError(t, err)
		require.Equal(t, before, after, "nothing changed")
	})
}

func TestATargetURLIsASamesitePathOrAnHTTPURLWithNothingInvisible(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"/booking/sale", true},
		{"/booking/sale?seat=A1#map", true},
		{"https://shop.example/checkout?x=1", true},
		{"http://127.0.0.1:8081/booking/sale", true},
		{"/caf%C3%A9/%20x", true},
		{"/café", true},
		{"", false},
		{"booking/sale", false},
		{"//evil.example", false},
		{`/\evil.example`, false},
		{"javascript:alert(1)", false},
		{"ftp://shop.example/x", false},
		{"/\t/evil.example/x", false},
		{"/\n/evil.example/x", false},
		{"/\r/evil.example/x", false},
		{"/booking/sale\t", false},
		{" /booking/sale", false},
		{"/booking/sale ", false},
		{"/booking /sale", false},
		{"/\x00/evil.example", false},
		{"/\x7f/evil.example", false},
		{"/\u0085/evil.example", false},
		{"/\u00a0/evil.example", false},
		{"/\u2028/evil.example", false},
		{"/\u200b/evil.example", false},
		{"/\u202e/evil.example", false},
		{"/\ufeff/evil.example", false},
		{"https://shop.example/\tx", false},
		{"https://shop.example\n.evil/", false},
		{"\thttps://shop.example/", false},
	} {
		err := validTargetURL(c.url)
		if c.ok {
			require.NoError(t, err, "%q", c.url)
			continue
		}
		require.Error(t, err, "%q", c.url)
		body, err := json.Marshal(map[string]string{"target_url": c.url})
		require.NoError(t, err)
		_, err = DecodeConfigPatch(body)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, "%q", c.url)
		require.Equal(t, "target_url", ce.Field, "%q", c.url)
	}
}

func TestATitleAndMessageArePlainTextKeptAsGivenUpToTheirLength(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		title := strings.Repeat("가", MaxTitleLen) // 100 characters, 300 bytes
		message := "<img src=x onerror=alert(1)>\nLine two\twith a tab & \"quotes\""
		p, err := DecodeConfigPatch([]byte(fmt.Sprintf(`{"title":%q,"message":%q}`, title, message)))
		require.NoError(t, err)
		cfg := b.put(t, p)
		require.Equal(t, title, cfg.Title)
		require.Equal(t, message, cfg.Message, "stored as given: the page escapes it, the store does not")
		got, err := b.store.Room(b.ctx, b.room)
		require.NoError(t, err)
		require.Equal(t, cfg, got)

		for field, limit := range map[string]int{"title": MaxTitleLen, "message": MaxMessageLen} {
			body := fmt.Sprintf(`{%q:%q}`, field, strings.Repeat("a", limit+1))
			_, err := DecodeConfigPatch([]byte(body))
			var ce *ConfigError
			require.ErrorAs(t, err, &ce, field)
			require.Equal(t, field, ce.Field)
			require.Contains(t, ce.Error(), fmt.Sprint(limit))
		}
		// "" clears them again.
		cfg = b.put(t, ConfigPatch{Title: new(""), Message: new("")})
		require.Empty(t, cfg.Title)
		require.Empty(t, cfg.Message)
	})
}

func TestGoodPatchDecodes(t *testing.T) {
	p, err := DecodeConfigPatch([]byte(`{"capacity":0,"batch_size":10000,"interval_ms":100,"session_ttl_s":86400,
		"mode":"queue_all","paused":true,"opens_at":"2030-01-01T10:00:00+02:00","abandon_after_s":0,"target_url":"https://shop.example/buy"}`))
	require.NoError(t, err)
	cfg := p.Apply(DefaultConfig("x"))
	require.NoError(t, cfg.Validate())
	require.Equal(t, time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC), *cfg.OpensAt)
	require.True(t, cfg.Paused)
	require.Equal(t, ModeQueueAll, cfg.Mode)
}

func TestRoomIDsAreCheckedBeforeRedis(t *testing.T) {
	s := New(nil, Options{}) // no Redis at all: a bad id must never reach it
	ctx := context.Background()
	for _, id := range []string{"", "Room", "a b", "ü", "../x", "a_b", string(make([]byte, 65))} {
		_, err := s.Room(ctx, id)
		require.True(t, errors.Is(err, ErrInvalidRoom), id)
		_, _, err = s.Join(ctx, id, JoinRequest{})
		require.ErrorIs(t, err, ErrInvalidRoom)
		_, err = s.Tick(ctx, id)
		require.ErrorIs(t, err, ErrInvalidRoom)
	}
}

func TestRoutesAreCleanPathPrefixesKeptInOrder(t *testing.T) {
	each(t, ConfigPatch{}, func(t *testing.T, b *bundle) {
		got, err := b.store.Room(b.ctx, b.room)
		require.NoError(t, err)
		require.Equal(t, []string{}, got.Routes, "none by default, a list and not null")
		p, err := DecodeConfigPatch([]byte(`{"routes":["/checkout","/events/42/","/"]}`))
		require.NoError(t, err)
		cfg := b.put(t, p)
		require.Equal(t, []string{"/checkout", "/events/42/", "/"}, cfg.Routes)
		got, err = b.store.Room(b.ctx, b.room)
		require.NoError(t, err)
		require.Equal(t, cfg, got)

		many := make([]string, MaxRoutes+1)
		for i := range many {
			many[i] = fmt.Sprintf("/p%d", i)
		}
		tooMany, _ := json.Marshal(map[string]any{"routes": many})
		for _, body := range []string{`{"routes":null}`, `{"routes":"/x"}`, `{"routes":[""]}`, `{"routes":["x"]}`,
			`{"routes":["//evil"]}`, `{"routes":["/a?b"]}`, `{"routes":["/a#b"]}`, `{"routes":["/a b"]}`,
			`{"routes":["/a\\b"]}`, `{"routes":["/a/../b"]}`, `{"routes":["/a/./b"]}`, `{"routes":["/a//b"]}`,
			`{"routes":["/a","/a"]}`, `{"routes":["/\u200bx"]}`, string(tooMany)} {
			_, err := DecodeConfigPatch([]byte(body))
			var ce *ConfigError
			require.ErrorAs(t, err, &ce, body)
			require.Equal(t, "routes", ce.Field, body)
		}
		cfg = b.put(t, ConfigPatch{Routes: &[]string{}})
		require.Equal(t, []string{}, cfg.Routes)
	})
}
