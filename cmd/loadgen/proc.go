package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// raiseNoFile lifts the soft limit on open files to the hard one and returns
// the limit now in force.
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = want.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return lim.Cur, fmt.Errorf("setrlimit: %w", err)
		}
		lim = want
	}
	return lim.Cur, nil
}

// memStatus is what /proc/PID/status says of a process's memory, in KiB.
type memStatus struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: the peak resident size over the process's life
}

// parseProcStatus reads VmRSS and VmHWM from a /proc/PID/status.
func parseProcStatus(r io.Reader) (memStatus, error) {
	var m memStatus
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("%s: unexpected %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("%s: %w", k, err)
		}
		if k == "VmRSS" {
			m.RSS = n
		} else {
			m.HWM = n
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if found < 2 {
		return m, errors.New("no VmRSS/VmHWM (a kernel thread, or not Linux)")
	}
	return m, nil
}

func readMem(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	return parseProcStatus(f)
}

// readPIDFile reads a process id from a file such as a pidfile.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no process id in it", path)
	}
	return pid, nil
}

// listenInodes returns the socket inodes listening on TCP port in a
// /proc/net/tcp or tcp6 table.
func listenInodes(r io.Reader, port int) []string {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil || int(p) != port {
			continue
		}
		out = append(out, f[9])
	}
	return out
}

// findListener finds the local process that listens on TCP port, from
// /proc: the server's PID when -server-pid is not given. It needs the right
// to read the server's /proc/PID/fd (same user, or root).
func findListener(port int) (int, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		for _, ino := range listenInodes(f, port) {
			inodes["socket:["+ino+"]"] = true
		}
		f.Close()
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d here", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir(p + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(p + "/fd/" + fd.Name()); err == nil && inodes[link] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("the process listening on port %d is not visible (pass -server-pid)", port)
}

// rssWatch samples the resident memory of the server and of this process.
type rssWatch struct {
	pid int // 0: no server to watch

	mu       sync.Mutex
	samples  int
	peak     int64 // KiB, the largest VmRSS sampled
	last     memStatus
	err      string
	selfPeak int64
}

func (w *rssWatch) sample() {
	self, selfErr := readMem(os.Getpid())
	var srv memStatus
	var err error
	if w.pid > 0 {
		srv, err = readMem(w.pid)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if selfErr == nil {
		w.selfPeak = max(w.selfPeak, self.RSS)
	}
	if w.pid == 0 {
		return
	}
	if err != nil {
		w.err = err.Error()
		return
	}
	w.samples++
	w.last = srv
	w.peak = max(w.peak, srv.RSS)
}

// ServerRSS is the server's memory as the report shows it.
type ServerRSS struct {
	PID         int     `json:"pid,omitempty"`
	Samples     int     `json:"samples"`
	PeakMiB     float64 `json:"rss_peak_mib"`
	LastMiB     float64 `json:"rss_last_mib"`
	HWMMiB      float64 `json:"vmhwm_mib"`
	Error       string  `json:"error,omitempty"`
	LoadgenPeak float64 `json:"loadgen_rss_peak_mib"`
}

// SelfMem is this process's own footprint with its sockets open: the tool
// should stay well below the server it measures.
type SelfMem struct {
	RSSPeakMiB float64 `json:"rss_peak_mib"`
	HeapMiB    float64 `json:"heap_inuse_mib"`
	StacksMiB  float64 `json:"stacks_inuse_mib"`
	Goroutines int     `json:"goroutines"`
}

func selfMem() SelfMem {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mib := func(b uint64) float64 { return float64(b*10>>20) / 10 }
	return SelfMem{HeapMiB: mib(ms.HeapInuse), StacksMiB: mib(ms.StackInuse), Goroutines: runtime.NumGoroutine()}
}

func kibToMiB(k int64) float64 { return float64(k*10/1024) / 10 }

func (w *rssWatch) report() ServerRSS {
	w.mu.Lock()
	defer w.mu.Unlock()
	return ServerRSS{PID: w.pid, Samples: w.samples, PeakMiB: kibToMiB(w.peak), LastMiB: kibToMiB(w.last.RSS),
		HWMMiB: kibToMiB(w.last.HWM), Error: w.err, LoadgenPeak: kibToMiB(w.selfPeak)}
}
