// Package web holds waitroom's browser pages: plain HTML, CSS and JavaScript
// embedded in the binary, so a deployment is one file and needs no build step.
//
// The pages load nothing from other origins and carry no inline scripts,
// styles or event handlers, so they run under a strict policy:
//
//	Content-Security-Policy: default-src 'self'; connect-src 'self' ws://<host> wss://<host>
//
// This package only holds the files; the server wires the routes:
// GET /rooms/{room} answers with [RoomPage] (the same file for every room:
// its script reads the room id from the path), and /static/... serves
// [Files], which is where the pages load their CSS and JavaScript from.
package web

import (
	"embed"
	"io/fs"
)

// Static is the embedded static directory as it sits in the source tree:
// names start with "static/". Most callers want [Files] instead.
//
//go:embed static
var Static embed.FS

// RoomPage is the name, inside [Files], of the waiting page served at
// GET /rooms/{room}.
const RoomPage = "room.html"

// AdminPage is the operator page served at GET /admin.
const AdminPage = "admin.html"

// BookingPage is the booking page (seat map) served at GET /booking/{room}.
const BookingPage = "booking.html"

// Files returns the static files with the "static/" prefix removed, so
// "room.js" is static/room.js: the tree to serve under /static/.
func Files() fs.FS {
	sub, err := fs.Sub(Static, "static")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "static" is a
		// constant that go:embed has already checked.
		panic(err)
	}
	return sub
}
