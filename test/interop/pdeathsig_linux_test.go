package interop

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the kernel kill the process if the test binary dies
// before its cleanups ran (go test killed on a timeout, say), so that no
// broker outlives the test run.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
