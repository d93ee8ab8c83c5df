package gateway

import (
	"context"
	"path"
	"sort"
	"strings"

	"github.com/waitroom/waitroom/pkg/queue"
)

// RoomLister lists every room with its config (the queue store).
type RoomLister interface {
	Rooms(ctx context.Context) ([]queue.RoomConfig, error)
}

// route is one path prefix and the room it belongs to.
type route struct {
	prefix, room string
}

// table is every room's routes, longest prefix first (then by room id, so a
// prefix two rooms share goes to the same room on every instance).
type table []route

func newTable(rooms []queue.RoomConfig, reserved string) table {
	var t table
	for _, rc := range rooms {
		for _, p := range rc.Config.Routes {
			if p == reserved || strings.HasPrefix(p, reserved+"/") {
				continue // waitroom's own routes are never the site's
			}
			t = append(t, route{prefix: p, room: rc.Room})
		}
	}
	sort.Slice(t, func(i, j int) bool {
		if len(t[i].prefix) != len(t[j].prefix) {
			return len(t[i].prefix) > len(t[j].prefix)
		}
		return t[i].room < t[j].room
	})
	return t
}

// match is the room whose route is the longest prefix of p, "" for none.
func (t table) match(p string) string {
	for _, r := range t {
		if strings.HasPrefix(p, r.prefix) {
			return r.room
		}
	}
	return ""
}

// cleanPath is p as a site would resolve it: no empty, "." or ".." segment
// (so "//checkout" and "/a/../checkout" match "/checkout"), a trailing
// slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}
