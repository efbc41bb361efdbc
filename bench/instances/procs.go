package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// selfMemory is this process's memory after a full GC with freed memory
// returned to the OS: RSS (kB from /proc) and the live Go heap.
type selfMemory struct {
	RSSKiB     int64
	HeapBytes  uint64
	Goroutines int
}

func measureSelf() selfMemory {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _, _ := rollup(os.Getpid())
	return selfMemory{RSSKiB: rss, HeapBytes: ms.HeapAlloc, Goroutines: runtime.NumGoroutine()}
}

// rollup is a process's RSS, PSS and anonymous memory in kB
// (smaps_rollup): the anonymous part is its own, the rest is mostly the
// binary's pages shared with its siblings.
func rollup(pid int) (rss, pss, anon int64) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = v
		case "Pss:":
			pss = v
		case "Anonymous:":
			anon = v
		}
	}
	return rss, pss, anon
}

// procTable maps every process to its parent and command line.
type procTable struct {
	parent  map[int]int
	cmdline map[int]string
}

func readProcs() procTable {
	t := procTable{parent: map[int]int{}, cmdline: map[int]string{}}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		t.parent[pid], _ = strconv.Atoi(f[1])
		cl, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		t.cmdline[pid] = string(bytes.ReplaceAll(cl, []byte{0}, []byte{' '}))
	}
	return t
}

// shims are the containerd shims serving the containerd at socket.
func (t procTable) shims(socket string) []int {
	var pids []int
	for pid, cl := range t.cmdline {
		if strings.Contains(cl, "containerd-shim") && strings.Contains(cl, socket) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// descendants are the processes below pid.
func (t procTable) descendants(pid int) []int {
	var out []int
	for p := range t.parent {
		for q := t.parent[p]; q > 1; q = t.parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
