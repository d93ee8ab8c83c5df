package queue

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for every parser of outside input in this package. `go test`
// runs their seeds; scripts/test.sh runs each for a few seconds with -fuzz.

func FuzzValidRoomID(f *testing.F) {
	for _, s := range []string{"demo", "a", "", "Room", "../x", "a-b-c", "ü", string(make([]byte, 65)), "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := ValidRoomID(s)
		if ok && (len(s) == 0 || len(s) > 64) {
			t.Fatalf("accepted %q of length %d", s, len(s))
		}
		for _, r := range s {
			if ok && !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				t.Fatalf("accepted %q with %q", s, r)
			}
		}
	})
}

func FuzzValidTicket(f *testing.F) {
	for _, s := range []string{NewTicket(), "", "short", "AAAAAAAAAAAAAAAAAAAAA=", "../../../../../../etc/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidTicket(s) && (len(s) != TicketLen || !utf8.ValidString(s)) {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzDecodeConfigPatch(f *testing.F) {
	for _, s := range []string{`{}`, `{"batch_size":5}`, `{"opens_at":null}`, `{"opens_at":"2030-01-01T00:00:00Z"}`,
		`{"mode":"reject","paused":true}`, `{"capacity":1e400}`, `{"a":1,"a":2}`, `[`, `{"target_url":"/x"}`, `null`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeConfigPatch(b)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field == "" {
				t.Fatalf("refusal without a field: %v", err)
			}
			return
		}
		if err := p.Apply(DefaultConfig("x")).Validate(); err != nil {
			t.Fatalf("accepted a patch that does not validate: %s: %v", b, err)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{`{"v":1,"k":"tick","a":[{"t":"x"}],"x":5,"w":3}`, `{"v":2,"k":"leave","r":[{"t":"y","s":"12","r":"left"}]}`,
		`{"r":[{"s":"not a number"}]}`, `{}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseEvent(b)
		if err != nil {
			return
		}
		sh := ev.Shift()
		if sh.Below(1<<62) < int64(len(ev.Admitted)) {
			t.Fatal("shift lost admissions")
		}
	})
}
