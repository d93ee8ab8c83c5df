// Package testproc is the harness of the end-to-end tests: it builds the
// binaries of cmd/ once per test process, runs them as separate processes
// with an environment of the test's own, waits for /readyz, stops them with
// SIGTERM or kills them with SIGKILL, and shows the end of their log when a
// test fails. Beside that it holds the small things every such test needs:
// a free address, a signing key on disk, an in-process entry-token signer
// and verifier, a JWT signed or read unchecked, an HTTP answer read in
// full, a server that never answers and a recorder of a WebSocket's
// messages.
//
// A package that uses Binary runs its tests through Main, so that the
// binaries are removed afterwards:
//
//	func TestMain(m *testing.M) { testproc.Main(m) }
//
//	w := testproc.StartServer(t, testproc.Command{Name: "waitroom-1",
//		Path: testproc.Binary(t, "waitroom"), Env: env}, "WAITROOM_ADDR")
//	a := testproc.Start(t, testproc.Command{Path: testproc.Binary(t, "admitter"), Env: env})
package testproc
