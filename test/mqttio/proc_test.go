package mqttio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a line of output or a process exit.
const waitTimeout = 15 * time.Second

// python is Debian's interpreter: its dist-packages hold the Debian client
// libraries, whatever python3 comes first on PATH.
const python = "/usr/bin/python3"

// need fails the test unless program is installed, naming the Debian
// package that provides it.
func need(t testing.TB, program, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		t.Fatalf("%s not found (%v): install the Debian package %s (scripts/install-deps.sh does)", program, err, pkg)
	}
	return path
}

var pyModules sync.Map // module name → error string ("" when importable)

// needPython fails the test unless Debian's python3 can import module,
// naming the Debian package that provides it.
func needPython(t testing.TB, module, pkg string) {
	t.Helper()
	need(t, python, "python3")
	v, ok := pyModules.Load(module)
	if !ok {
		out, err := exec.Command(python, "-c", "import "+module).CombinedOutput()
		msg := ""
		if err != nil {
			msg = fmt.Sprintf("%v: %s", err, bytes.TrimSpace(out))
		}
		v, _ = pyModules.LoadOrStore(module, msg)
	}
	if msg := v.(string); msg != "" {
		t.Fatalf("%s cannot import %s (%s): install the Debian package %s (scripts/install-deps.sh does)", python, module, msg, pkg)
	}
}

// freePort returns a loopback port nothing listens on right now, for
// programs that must be told their port. Another process could take it
// before the program binds it; the kernel hands ephemeral ports out in
// turn, so that is unlikely, and the program's start-up fails loudly if so.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// proc is one child process: its stdout arrives as lines, everything it
// printed is kept for failure messages, and it is stopped when the test
// ends: SIGTERM, then SIGKILL if it is still there after a grace period.
type proc struct {
	t        testing.TB
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    chan string // stdout lines; closed once the process has exited
	errLines chan string // stderr lines, likewise
	out      *lineWriter
	errs     *lineWriter
	group    bool // the process leads a process group, stopped as a whole

	backlog []string // lines read while looking for another (waitLine)

	done    chan struct{} // closed once cmd.Wait returned
	waitErr error
}

// startProc starts name with args, its stdin a pipe.
func startProc(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startProcGroup(t, false, name, args...)
}

// startProcGroup is startProc; with group, the process leads a process
// group of its own, and stopping it also ends whatever helpers it started
// (Chromium's) that outlive it.
func startProcGroup(t testing.TB, group bool, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, lines: make(chan string, 1<<14), errLines: make(chan string, 1<<10), done: make(chan struct{}), group: group}
	p.out = &lineWriter{ch: p.lines}
	p.errs = &lineWriter{ch: p.errLines}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.errs
	p.cmd.WaitDelay = 5 * time.Second
	setSysProcAttr(p.cmd, group)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.out.close()
		p.errs.close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s (pid %d): %s\n--- stdout:\n%s--- stderr:\n%s", strings.Join(p.cmd.Args, " "),
				p.cmd.Process.Pid, p.status(), p.out, p.errs)
		}
	})
	return p
}

// send writes one line to the process's stdin.
func (p *proc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write %q: %v (%s)", p.cmd.Path, line, err, p.status())
	}
}

// waitLine returns the first stdout line that match accepts, looking at
// the lines set aside by earlier calls first and setting aside the ones it
// passes over. It fails the test if none comes within waitTimeout.
func (p *proc) waitLine(what string, match func(string) bool) string {
	p.t.Helper()
	for i, l := range p.backlog {
		if match(l) {
			p.backlog = append(p.backlog[:i], p.backlog[i+1:]...)
			return l
		}
	}
	tm := time.NewTimer(waitTimeout)
	defer tm.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s exited (%s) before printing %s", p.cmd.Path, p.status(), what)
			}
			if match(l) {
				return l
			}
			p.backlog = append(p.backlog, l)
		case <-tm.C:
			p.t.Fatalf("%s printed no %s within %v; set aside: %q", p.cmd.Path, what, waitTimeout, p.backlog)
		}
	}
}

// expect waits for the stdout line want.
func (p *proc) expect(want string) {
	p.t.Helper()
	p.waitLine(strconv.Quote(want), func(l string) bool { return l == want })
}

// expectPrefix waits for a stdout line starting with prefix and returns
// the rest of it.
func (p *proc) expectPrefix(prefix string) string {
	p.t.Helper()
	return strings.TrimPrefix(p.waitLine(strconv.Quote(prefix+"…"), func(l string) bool { return strings.HasPrefix(l, prefix) }), prefix)
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns once the process is gone (and, for a group, every
// process left in it).
func (p *proc) stop(grace time.Duration) {
	defer p.endGroup()
	if p.exited() {
		return
	}
	p.signal(syscall.SIGTERM)
	tm := time.NewTimer(grace)
	defer tm.Stop()
	select {
	case <-p.done:
	case <-tm.C:
		p.kill()
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if p.group {
		syscall.Kill(-p.cmd.Process.Pid, sig) // the group: its id is the leader's pid
		return
	}
	p.cmd.Process.Signal(sig)
}

// endGroup kills what is left of the process's group once the leader is
// gone: helpers that did not follow it within a grace period.
func (p *proc) endGroup() {
	if !p.group {
		return
	}
	pgid := p.cmd.Process.Pid
	deadline := time.Now().Add(2 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
		<-tick.C
	}
}

// kill sends SIGKILL (an abrupt end: no goodbye on any socket) and waits
// until the process is gone.
func (p *proc) kill() {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("kill %s: %v", p.cmd.Path, err)
	}
	<-p.done
}

// wait waits for the process to exit by itself and fails the test unless
// it exited with status 0.
func (p *proc) wait() {
	p.t.Helper()
	tm := time.NewTimer(waitTimeout)
	defer tm.Stop()
	select {
	case <-p.done:
	case <-tm.C:
		p.t.Fatalf("%s still running after %v", p.cmd.Path, waitTimeout)
	}
	if p.waitErr != nil {
		p.t.Fatalf("%s: %v\n--- stdout:\n%s--- stderr:\n%s", p.cmd.Path, p.waitErr, p.out, p.errs)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) status() string {
	switch {
	case !p.exited():
		return "running"
	case p.waitErr != nil:
		return p.waitErr.Error()
	}
	return "exit status 0"
}

// lineWriter keeps everything a process writes and, when ch is set, sends
// it on ch line by line (dropping lines once ch is full: the copy keeps
// them).
type lineWriter struct {
	ch chan string

	mu      sync.Mutex
	partial []byte
	all     bytes.Buffer
	closed  bool
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.all.Len() < 1<<20 {
		w.all.Write(b)
	}
	if w.ch == nil {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		select {
		case w.ch <- string(w.partial[:i]):
		default:
		}
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

func (w *lineWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.ch == nil {
		return
	}
	w.closed = true
	if len(w.partial) > 0 {
		select {
		case w.ch <- string(w.partial):
		default:
		}
	}
	close(w.ch)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}
