// Package hub holds the visitors' WebSockets of one waitroom process and
// pushes each visitor's live standing to its socket (the WebSocket section of
// docs/API.md).
//
// # Redis work does not grow with the sockets
//
// The hub keeps one subscription per room that has sockets here
// (Store.Subscribe: Redis pub/sub, for *queue.Store). Every socket remembers
// its ticket's state, position, line score and the room event version that
// state reflects. An event from the room's channel (tick, leave, open, config, deleted) is applied to the
// sockets in memory: a waiting visitor's new position is the old one less
// the scores the event took out of the line in front of them
// (queue.Event.Shift), so a tick costs no Redis call per socket. Redis is
// read per socket only when a socket attaches (one status read), and in
// batches of 1000 tickets when the hub must resynchronise (the pre-queue
// opened, or an event was lost); presence is written for all of a room's
// sockets in one batched Touch every TouchInterval.
//
// # Versions
//
// Each event carries the room's version, which grows by one per event. A
// socket applies an event only if its own version is older, then takes the
// event's version. A socket attaches by first making sure the room is
// subscribed and only then reading its standing, which comes with the version
// it was read at: every later event is sure to arrive. If the room has
// already applied an event newer than that read, the read missed it and is
// done again. An event whose version skips one means a message was lost (a
// pub/sub reconnect, or a full channel): all the room's sockets are read
// again with batched queue.Store.Positions. A re-subscription after a
// reconnect triggers the same resynchronisation.
//
// # Writers and pings
//
// A socket has no goroutine or timer of its own besides its reader. Its
// messages wait in a small queue (Options.SendBuffer; a client whose queue
// fills is dropped) until one of a few writer goroutines shared by all
// sockets (Options.Writers) writes them; one loop pings every socket once
// per PingInterval, the pings spread over the interval; a watchdog drops a
// client whose write waits on a full send buffer for WriteTimeout. So a tick
// wakes a few writers, not a goroutine per socket. See writers.go.
//
// # Memory per socket
//
// A socket costs one goroutine (the caller's, which reads) with a 4 KiB
// stack, its pending messages and what gorilla/websocket and net hold per
// connection: about 12 KiB of the process's RSS in all, heap garbage
// included, measured with scripts/load/sockets.sh (19 500 sockets: 216 to
// 232 MiB) and the settings below, so 100 000 sockets fit in 2 GiB. The hub
// relies on the HTTP layer for two of them:
//
//	websocket.Upgrader{
//		ReadBufferSize:  256,          // client frames are discarded
//		WriteBufferSize: 1024,         // messages are < 1 KiB
//		WriteBufferPool: &sync.Pool{}, // shared: a buffer is held only during a write
//		// EnableCompression left false: a deflate context costs tens of KiB per socket.
//	}
//
// Without a WriteBufferPool every connection keeps its own write buffer, and
// with ReadBufferSize 0 it keeps the 4 KiB reader of the HTTP server. And the
// handler returns once it has handed the connection to Serve in a goroutine
// of its own (see Serve): while a handler runs, net/http keeps its
// connection's buffers, and the handler's goroutine keeps the deep stack of
// request parsing.
//
// # Close codes
//
// 1000 after an "expired" message; 1001 "going away" on Shutdown (the page
// reconnects, possibly to another process); 4000 "replaced by a newer
// connection" when another socket for the same ticket attaches here; 4404
// "ticket not found" when the ticket vanished between the HTTP handler's
// check and the attach; 1013 "try again later" when Redis cannot be read;
// 1011 when an entry token cannot be signed. A client that lets its send
// buffer fill is disconnected without a close frame.
package hub
