// Package hub holds the visitors' WebSockets of one waitroom process and
// pushes each visitor's live standing to its socket (the WebSocket section of
// docs/API.md). docs/BENCHMARKS.md ("Sockets") has the measurements behind
// the choices below.
//
// # Redis work does not grow with the sockets
//
// One subscription per room with sockets here (Store.Subscribe). Each socket
// remembers its ticket's state, position, score and event version, and an
// event is applied in memory: a waiting visitor's new position is the old one
// less the scores the event took out in front of them (queue.Event.Shift).
// Redis is read per socket only at attach, and in batches of 1000 to
// resynchronise; presence is one batched Touch per room every TouchInterval.
//
// # Versions
//
// Each event carries the room's version, one more per event; a socket applies
// only newer ones. A socket subscribes before it reads its standing, so no
// later event is missed; a read older than what the room applied is redone. A
// skipped version (a lost message, a reconnect) resynchronises the room.
//
// # No goroutine per socket
//
// Nothing waits on a socket. gorilla/websocket does the handshake; the hub
// then keeps only the net.Conn. One epoll poller for the process reads what
// clients send (poller_linux.go; elsewhere, or on a TLS connection, a
// goroutine per socket reads); a few writers write every socket's frames,
// built by hand, one write per turn (writers.go); one ping loop pings every
// socket once per PingInterval and drops those that answer none. A socket
// whose send buffer fills, or whose write waits too long on a full kernel
// buffer, is dropped without a close frame.
//
// # Close codes
//
// 1000 after an "expired" message; 1001 "going away" on Shutdown (the page
// reconnects, possibly to another process); 4000 "replaced by a newer
// connection" when another socket for the same ticket attaches here; 4404
// "ticket not found" when the ticket vanished between the HTTP handler's
// check and the attach; 1013 "try again later" when Redis cannot be read;
// 1011 when an entry token cannot be signed; 1002 and 1009 when the client
// breaks the protocol or sends a frame over 512 bytes; the client's own code
// when it closes first.
package hub
