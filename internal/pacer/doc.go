// Package pacer runs the ticks of every room (queue.Store.Tick), each room
// once per interval, however many admitters run.
//
// Two implementations sit behind the Pacer interface:
//
//   - SQS, a delay loop: one message per room is in flight on an SQS queue;
//     the admitter that receives it runs the room's tick and sends the next
//     message with DelaySeconds set from interval_ms. SQS delivers at least
//     once and admitters die at any point, so the loop is fenced in Redis:
//     a message ticks only if its (gen, seq) is the one the room's fence
//     expects, and claiming it moves the fence on (lua/claim.lua). A
//     watchdog in every admitter seeds new rooms and re-seeds a loop that
//     went silent, with a new generation, in one atomic check-and-set
//     (lua/watch.lua), so exactly one loop per room lives.
//   - Local, an in-process timer for deployments without SQS and for
//     standalone mode: every process polls, and a script claims each due
//     tick for one of them (lua/due.lua).
//
// Both read a room's config from Redis on every tick (Store.Tick does), so
// an operator's change holds from the next tick; an interval change holds
// from the next scheduling. Time always comes from Redis (TIME), never from
// the admitter's clock.
//
// The pacers take a Store (*queue.Store): the rooms and their ticks, and
// RunScript for their own scripts, so they never hold the Redis client.
//
// Keys, beside the room's own (same hash tag, so one Cluster slot):
// wr:{room}:loop (the SQS fence) and wr:{room}:timer (the Local timer).
package pacer
