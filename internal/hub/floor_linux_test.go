package hub_test

import (
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkLoopbackWriteFloor measures what one position update's write(2)
// costs the writing thread on this machine, with nothing of the hub around
// it: the floor under the hub's CPU per update (docs/BENCHMARKS.md,
// Sockets). On loopback the sender's write also runs the receiver's TCP
// path and wakeup, as it does when the hub writes to local load generators.
// WAITROOM_FLOOR_SOCKETS sets how many connections the writes go round
// (default 1000; two descriptors each, under the limit of 20 000).
func BenchmarkLoopbackWriteFloor(b *testing.B) {
	sockets := 1000
	if v, err := strconv.Atoi(os.Getenv("WAITROOM_FLOOR_SOCKETS")); err == nil && v > 0 {
		sockets = v
	}
	// A server text frame of about a position update's size (2-byte header,
	// 94-byte JSON payload).
	frame := make([]byte, 96)
	frame[0], frame[1] = 0x81, 94
	for i := 2; i < len(frame); i++ {
		frame[i] = 'x'
	}
	conns := loopbackPairs(b, sockets)

	b.Run("raw-fd", func(b *testing.B) {
		fds := make([]int, len(conns))
		for i, c := range conns {
			raw, err := c.SyscallConn()
			if err != nil {
				b.Fatal(err)
			}
			if err := raw.Control(func(fd uintptr) { fds[i] = int(fd) }); err != nil {
				b.Fatal(err)
			}
		}
		threadCPU(b, func(n int) {
			for i := 0; i < n; i++ {
				if _, err := unix.Write(fds[i%len(fds)], frame); err != nil && err != unix.EAGAIN {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("net.Conn", func(b *testing.B) {
		threadCPU(b, func(n int) {
			for i := 0; i < n; i++ {
				if _, err := conns[i%len(conns)].Write(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// threadCPU runs work(b.N) on one locked OS thread and reports that
// thread's CPU (user+system, from getrusage) per operation.
func threadCPU(b *testing.B, work func(n int)) {
	done := make(chan unix.Rusage, 1)
	b.ResetTimer()
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var before, after unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_THREAD, &before)
		work(b.N)
		_ = unix.Getrusage(unix.RUSAGE_THREAD, &after)
		done <- rusageSub(after, before)
	}()
	used := <-done
	b.StopTimer()
	cpu := float64(used.Utime.Nano()+used.Stime.Nano()) / float64(b.N)
	b.ReportMetric(cpu/1000, "cpu-µs/write")
	b.ReportMetric(float64(used.Stime.Nano())/float64(b.N)/1000, "sys-µs/write")
}

func rusageSub(a, b unix.Rusage) unix.Rusage {
	a.Utime.Sec -= b.Utime.Sec
	a.Utime.Usec -= b.Utime.Usec
	a.Stime.Sec -= b.Stime.Sec
	a.Stime.Usec -= b.Stime.Usec
	return a
}

// loopbackPairs opens n TCP connections on 127.0.0.1 and drains their
// accepted ends with a goroutine each (their CPU is not the writer's).
func loopbackPairs(b *testing.B, n int) []*net.TCPConn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	conns := make([]*net.TCPConn, 0, n)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(); s.Close() })
		go io.Copy(io.Discard, s)
		conns = append(conns, c.(*net.TCPConn))
	}
	return conns
}
