package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProcStatusGivesRSSAndPeak(t *testing.T) {
	in := "Name:\twaitroom\nVmPeak:\t 2000000 kB\nVmHWM:\t  812345 kB\nVmRSS:\t  798765 kB\nThreads:\t9\n"
	m, err := parseProcStatus(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, memStatus{RSS: 798765, HWM: 812345}, m)
	require.Equal(t, 780.0, kibToMiB(798765))

	_, err = parseProcStatus(strings.NewReader("Name:\tkthreadd\n"))
	require.Error(t, err)
}

func TestThisProcessStatusIsReadable(t *testing.T) {
	m, err := readMem(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, m.RSS)
	require.GreaterOrEqual(t, m.HWM, m.RSS)
}

func TestListenInodesFindsTheListeningPort(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:46A2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:46A2 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 100 0 0 10 0
`
	require.Equal(t, []string{"4242"}, listenInodes(strings.NewReader(table), 18082))
	require.Equal(t, []string{"5151"}, listenInodes(strings.NewReader(table), 8080))
	require.Empty(t, listenInodes(strings.NewReader(table), 9))
}

func TestPIDFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pid")
	require.NoError(t, os.WriteFile(p, []byte("1234\n"), 0o644))
	pid, err := readPIDFile(p)
	require.NoError(t, err)
	require.Equal(t, 1234, pid)
	require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	_, err = readPIDFile(p)
	require.Error(t, err)
}
