package mqttio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// setSysProcAttr has the kernel end the child if the test binary dies
// before its cleanups run (go test killed on a timeout, say): SIGTERM, so
// that nginx's master takes its workers down and Chromium its helpers.
// With group, the child leads a new process group.
func setSysProcAttr(cmd *exec.Cmd, group bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: group}
}

// groupAlive reports whether a process of group pgid is still running.
// Zombies do not count: the helpers Chromium leaves are reparented to init,
// which may take its time to reap them.
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp …; comm may hold anything but ends
		// at the last ')'.
		f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
		if len(f) > 2 && string(f[0]) != "Z" && string(f[2]) == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}
