package netpoll

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echo is a handler that echoes what it reads and reports when it saw the
// connection end.
type echo struct {
	raw     syscall.RawConn
	conn    net.Conn
	running atomic.Int32 // catches concurrent runs of one handler
	ended   chan struct{}
	once    sync.Once
}

func (e *echo) OnReadable(buf []byte) bool {
	if e.running.Add(1) != 1 {
		panic("handler running on two workers")
	}
	defer e.running.Add(-1)
	for {
		var n int
		var err error
		rerr := e.raw.Read(func(fd uintptr) bool { n, err = syscall.Read(int(fd), buf); return true })
		switch {
		case rerr == nil && n > 0:
			e.conn.Write(buf[:n])
			continue
		case rerr == nil && errors.Is(err, syscall.EAGAIN):
			return true
		default: // EOF or closed
			e.once.Do(func() { close(e.ended) })
			return false
		}
	}
}

func pair(t *testing.T, p *Poller) (client net.Conn, h *echo, pc *Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	raw, _ := server.(*net.TCPConn).SyscallConn()
	var fd int
	raw.Control(func(f uintptr) { fd = int(f) })
	h = &echo{raw: raw, conn: server, ended: make(chan struct{})}
	pc = p.Register(fd, h)
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	return client, h, pc
}

func newPoller(t *testing.T) *Poller {
	p, err := New(4, 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestEchoManyConnections(t *testing.T) {
	p := newPoller(t)
	const n = 50
	clients := make([]net.Conn, n)
	for i := range clients {
		clients[i], _, _ = pair(t, p)
	}
	for round := 0; round < 20; round++ {
		for i, c := range clients {
			msg := []byte{byte(i), byte(round)}
			c.Write(msg)
			got := make([]byte, 2)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := readFull(c, got); err != nil || got[0] != msg[0] || got[1] != msg[1] {
				t.Fatalf("conn %d round %d: got %v err %v", i, round, got, err)
			}
		}
	}
}

func TestPeerCloseWakesHandler(t *testing.T) {
	p := newPoller(t)
	client, h, _ := pair(t, p)
	client.Close()
	select {
	case <-h.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not see the peer's close")
	}
}

func TestLocalCloseAndWake(t *testing.T) {
	p := newPoller(t)
	_, h, pc := pair(t, p)
	h.conn.Close()
	pc.Wake()
	select {
	case <-h.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not run after Wake on a closed connection")
	}
}

func TestConcurrentWakesNeverOverlap(t *testing.T) {
	p := newPoller(t)
	client, _, pc := pair(t, p)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				pc.Wake()
			}
		}()
	}
	client.Write([]byte("x"))
	wg.Wait()
	got := make([]byte, 1)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := readFull(client, got); err != nil || got[0] != 'x' {
		t.Fatalf("echo after concurrent wakes: %q %v", got, err)
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
