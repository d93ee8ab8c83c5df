// Package integration holds the scale-out tests of the whole product: they
// build cmd/waitroom, cmd/admitter and cmd/booking from this tree and run
// them as separate processes, as production does — two waitroom instances,
// two admitters on an SQS delay loop (the emulator of
// scripts/sqs-emulator.sh) and the booking service — against one real
// Redis and again against a 3-node Redis Cluster (internal/redistest).
//
// They specify what no single package can show on its own: visitors join
// through either instance and hold their sockets on either, see exact
// positions, are each admitted exactly once, in join order and at the
// room's pace however many admitters run; a waitroom instance killed with
// SIGKILL loses nobody's place; and a Redis restarted under the service is
// survived with no restart of waitroom and no socket dropped.
//
// The package has no code of its own, only tests (go test ./internal/integration).
package integration
