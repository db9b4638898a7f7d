package mqttio

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttio/mqttio/transport"
)

// sioPipe is a net.Conn through python3-socketio (testdata/sio_pipe.py):
// each Write is emitted as one "message" event, and the events the client
// receives are read as a byte stream. The test speaks raw MQTT over it
// with broker/mqtttest, through a Socket.IO client nobody here wrote.
type sioPipe struct {
	p    *proc
	data chan []byte // event payloads, in order; closed when the process ends
	ctrl chan string // every other line

	wmu sync.Mutex
	rmu sync.Mutex
	buf []byte
	rd  transport.Deadline
}

// startSIOPipe starts the client on url over transports ("polling",
// "websocket" or "polling,websocket") and waits until it has connected
// /mqtt; it returns the pipe and the transport the client connected with.
func startSIOPipe(t testing.TB, url, transports string) (*sioPipe, string) {
	t.Helper()
	needPython(t, "socketio", "python3-socketio")
	p := startProc(t, python, "testdata/sio_pipe.py", url, transports)
	c := &sioPipe{p: p, data: make(chan []byte, 1<<14), ctrl: make(chan string, 64)}
	go func() {
		defer close(c.data)
		defer close(c.ctrl)
		for l := range p.lines {
			if h, ok := strings.CutPrefix(l, "m "); ok {
				b, err := hex.DecodeString(h)
				if err != nil {
					b = []byte(l) // garbage in the stream: the MQTT reader will say so
				}
				c.data <- b
				continue
			}
			c.ctrl <- l
		}
	}()
	first := c.ctrlLine(t)
	tr, ok := strings.CutPrefix(first, "connected ")
	if !ok {
		t.Fatalf("python3-socketio over %s: %q, want connected", transports, first)
	}
	return c, tr
}

// ctrlLine returns the next line that is not an event.
func (c *sioPipe) ctrlLine(t testing.TB) string {
	t.Helper()
	tm := time.NewTimer(waitTimeout)
	defer tm.Stop()
	select {
	case l, ok := <-c.ctrl:
		if !ok {
			t.Fatalf("sio_pipe.py exited: %s\n%s", c.p.status(), c.p.errs)
		}
		return l
	case <-tm.C:
		t.Fatalf("sio_pipe.py said nothing within %v", waitTimeout)
	}
	return ""
}

// transport asks the client which transport it is on now.
func (c *sioPipe) transport(t testing.TB) string {
	t.Helper()
	c.p.send("t")
	l := c.ctrlLine(t)
	tr, ok := strings.CutPrefix(l, "transport ")
	if !ok {
		t.Fatalf("asked for the transport, got %q", l)
	}
	return tr
}

func (c *sioPipe) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := fmt.Fprintf(c.p.stdin, "e %x\n", b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *sioPipe) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.buf) == 0 {
		select {
		case d, ok := <-c.data:
			if !ok {
				return 0, io.EOF
			}
			c.buf = d
		case <-c.rd.Done():
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(b, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// Close ends the client's standard input: it disconnects and exits.
func (c *sioPipe) Close() error { return c.p.stdin.Close() }

func (c *sioPipe) LocalAddr() net.Addr                { return transport.Addr{Net: "sio_pipe", Str: "python"} }
func (c *sioPipe) RemoteAddr() net.Addr               { return transport.Addr{Net: "sio_pipe", Str: "server"} }
func (c *sioPipe) SetDeadline(t time.Time) error      { return c.SetReadDeadline(t) }
func (c *sioPipe) SetReadDeadline(t time.Time) error  { c.rd.Set(t); return nil }
func (c *sioPipe) SetWriteDeadline(t time.Time) error { return nil }
