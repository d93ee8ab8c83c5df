// Package queue is the waiting line of waitroom: rooms and their config,
// tickets, positions, admissions and the tick that moves visitors from the
// line into the admitted set.
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
