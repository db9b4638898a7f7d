//go:build !linux

package mqttio

import (
	"os/exec"
	"syscall"
)

func setSysProcAttr(cmd *exec.Cmd, group bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: group}
}

// groupAlive reports whether a process of group pgid still exists.
func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }
