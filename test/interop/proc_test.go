package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a line of output or a process exit.
const waitTimeout = 10 * time.Second

// errTimeout is returned by proc.line when no line came in time.
var errTimeout = errors.New("timed out")

// proc is one external process: its stdout and stderr lines arrive on
// channels (and are kept for failure messages), and it is killed when the
// test ends if it is still running.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd

	out, errs chan string // lines; closed once the process has exited
	outW      *lineWriter
	errW      *lineWriter

	done    chan struct{} // closed once cmd.Wait has returned
	waitErr error
}

// startProc starts name with args. env is added to the test's environment;
// stdin, if not nil, is the process's standard input.
func startProc(t testing.TB, stdin io.Reader, env []string, name string, args ...string) *proc {
	t.Helper()
	p := newProc(t, env, name, args...)
	p.cmd.Stdin = stdin
	p.start()
	return p
}

// newProc prepares a process; set up cmd further, then call start.
func newProc(t testing.TB, env []string, name string, args ...string) *proc {
	p := &proc{
		t:    t,
		name: shortName(name),
		out:  make(chan string, 1<<14),
		errs: make(chan string, 1<<14),
		done: make(chan struct{}),
	}
	p.outW = &lineWriter{ch: p.out}
	p.errW = &lineWriter{ch: p.errs}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.outW
	p.cmd.Stderr = p.errW
	p.cmd.WaitDelay = 5 * time.Second
	setPdeathsig(p.cmd)
	return p
}

// start starts the process and arranges for it to be killed when the test
// ends.
func (p *proc) start() {
	t := p.t
	t.Helper()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.outW.close()
		p.errW.close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s (pid %d): %s\n--- stdout:\n%s--- stderr:\n%s", strings.Join(p.cmd.Args, " "),
				p.cmd.Process.Pid, p.exitStatus(), p.outW.String(), p.errW.String())
		}
	})
}

func shortName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// line returns the next stdout line, io.EOF once the process has exited and
// every line was read, errTimeout after timeout.
func (p *proc) line(timeout time.Duration) (string, error) {
	return nextLine(p.out, timeout)
}

// errLine is line for stderr.
func (p *proc) errLine(timeout time.Duration) (string, error) {
	return nextLine(p.errs, timeout)
}

func nextLine(ch <-chan string, timeout time.Duration) (string, error) {
	return recv(ch, timeout)
}

// recv receives from ch within timeout: io.EOF once ch is closed,
// errTimeout after timeout.
func recv[T any](ch <-chan T, timeout time.Duration) (T, error) {
	var zero T
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			return zero, io.EOF
		}
		return v, nil
	case <-tm.C:
		return zero, errTimeout
	}
}

// signal sends sig to the process (no-op once it has exited).
func (p *proc) signal(sig os.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("signal %v to %s: %v", sig, p.name, err)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// wait waits up to timeout for the process to exit by itself and returns
// its exit code (-1 when a signal ended it); it fails the test on timeout.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-p.done:
	case <-tm.C:
		p.t.Fatalf("%s still running after %v\n--- stdout:\n%s--- stderr:\n%s", p.name, timeout, p.outW.String(), p.errW.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) exitStatus() string {
	if !p.exited() {
		return "running"
	}
	if p.waitErr != nil {
		return p.waitErr.Error()
	}
	return "exit status 0"
}

// runToEnd waits for the process to exit and fails the test unless it
// exited with status 0.
func (p *proc) runToEnd() {
	p.t.Helper()
	if code := p.wait(waitTimeout); code != 0 {
		p.t.Fatalf("%s: %s\n--- stdout:\n%s--- stderr:\n%s", p.name, p.exitStatus(), p.outW.String(), p.errW.String())
	}
}

// lineWriter splits what a process writes into lines and sends them on ch,
// keeping a copy of everything for failure messages.
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
	w.all.Write(b)
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.send(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

func (w *lineWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	if len(w.partial) > 0 {
		w.send(string(w.partial))
	}
	close(w.ch)
}

// send queues a line without ever blocking the process: lines nobody reads
// (a broker's log, say) are dropped from the channel once it is full, but
// stay in the copy kept for failure messages.
func (w *lineWriter) send(l string) {
	select {
	case w.ch <- l:
	default:
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	const max = 64 << 10
	if w.all.Len() > max {
		return fmt.Sprintf("[... %d bytes cut ...]\n%s", w.all.Len()-max, w.all.Bytes()[w.all.Len()-max:])
	}
	return w.all.String()
}
