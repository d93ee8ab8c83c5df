// Package queue is the waiting line of waitroom: rooms and their config,
// tickets, positions, admissions and the tick that moves visitors from the
// line into the admitted set. It is public so that a Go program can run a
// line of its own without the HTTP server.
//
// Use: New(rdb, Options{}) over a go-redis client (single node or Cluster);
// PutRoom creates or changes a room; Join, Status and Leave serve a visitor;
// Tick, called once per room every Config.IntervalMS by exactly one caller
// (cmd/admitter does this), admits the next batch and publishes an Event on
// Channel(room). Errors are the named Err* values, to test with errors.Is.
// See Example.
//
// Everything lives in Redis under the room's hash tag {room}, so one room is
// one Redis Cluster slot and every operation on it is a single atomic Lua
// script (see the .lua files beside this one). The package knows nothing of
// HTTP, WebSockets or SQS: servers and admitters call a *Store.
//
// Time always comes from Redis (TIME inside the scripts), never from the
// caller's clock, so several hosts with skewed clocks still agree on the
// order of the line and on when an admission ends.
package queue
