// Package booking is the protected site's seat inventory: the seat map of
// each room, holds that end by themselves, bookings, and the limit of seats
// per visitor. It knows nothing of HTTP or tokens: the booking API verifies
// the entry token and passes its subject here as the visitor.
//
// Seats live in Redis under the room's hash tag {room}, beside the room's
// line, so a room is one Redis Cluster slot. Every change is one atomic Lua
// script (see the .lua files beside this one): two visitors never book the
// same seat, whatever the concurrency. Time comes from Redis (TIME inside the
// scripts), never from the caller's clock.
package booking
