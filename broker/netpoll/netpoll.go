// Package netpoll lets idle TCP connections wait for data without a
// goroutine. Each connection is registered (edge-triggered) in an epoll set
// of our own; when data arrives a worker from a small fixed pool runs its
// handler, which reads with non-blocking syscalls until a short read shows
// the socket drained. Data arriving while the handler runs requests a rerun
// (see Conn.state), so no event is lost and no re-arming syscall is needed.
//
// Why: a goroutine blocked in Read costs at least a 2-8 KB stack plus a read
// buffer for every idle connection; with netpoll an idle MQTT connection
// costs only its own state, and read buffers belong to the workers.
//
// Go's runtime netpoller keeps its own registration of the same fd; that is
// harmless (epoll allows one file in several sets) and is still what writes
// and Close use.
package netpoll

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrUnsupported is returned by New where there is no epoll.
var ErrUnsupported = errors.New("netpoll: not supported on this platform")

// Handler runs on a worker when its connection is readable, or when it was
// woken (Wake) to notice a close. It reports whether the connection should
// be parked again (false: it is finished and must not be touched).
type Handler interface {
	OnReadable(buf []byte) (park bool)
}

// Conn is one registered connection.
type Conn struct {
	p     *Poller
	fd    int
	token uint64
	h     Handler
	hup   atomic.Bool // the peer hung up: read until EOF
	// state: idle (parked or not yet armed), queued/running, or running
	// with another run requested. It makes sure a handler never runs on
	// two workers at once.
	state atomic.Int32
}

const (
	stateIdle     = 0
	stateRunning  = 1
	stateRerunReq = 2
)

// Poller is an epoll set with its workers.
type Poller struct {
	impl   pollImpl
	work   chan *Conn
	mu     sync.Mutex
	conns  map[uint64]*Conn
	next   uint64
	bufLen int
	closed atomic.Bool
	wg     sync.WaitGroup
}

// New starts a poller with the given number of workers, each owning a read
// buffer of bufLen bytes.
func New(workers, bufLen int) (*Poller, error) {
	impl, err := newImpl()
	if err != nil {
		return nil, err
	}
	p := &Poller{impl: impl, work: make(chan *Conn, 4096), conns: make(map[uint64]*Conn), bufLen: bufLen}
	for range workers {
		p.wg.Add(1)
		go p.worker()
	}
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// Register prepares fd with its handler. Nothing runs until Start, so the
// caller can finish setting up what the handler uses.
func (p *Poller) Register(fd int, h Handler) *Conn {
	return &Conn{p: p, fd: fd, h: h}
}

// Start adds the connection to the epoll set and runs the handler once for
// data that arrived before. On error the connection is forgotten.
func (c *Conn) Start() error {
	// Publishing c in the map under p.mu orders everything the caller did
	// before Start before the poll loop's lookup of c.
	p := c.p
	p.mu.Lock()
	p.next++
	c.token = p.next
	p.conns[c.token] = c
	p.mu.Unlock()
	if err := p.impl.add(c.fd, c.token); err != nil {
		c.p.forget(c)
		return err
	}
	c.schedule()
	return nil
}

// HungUp reports whether the peer closed its side (or the socket failed).
// Edge-triggered polling signals that once, possibly together with the last
// data, so a handler that sees it must read on until EOF even after a short
// read.
func (c *Conn) HungUp() bool { return c.hup.Load() }

// Wake schedules the handler to run soon, whether or not data arrived.
// Safe from any goroutine; used to notice a close done elsewhere.
func (c *Conn) Wake() { c.schedule() }

func (c *Conn) schedule() {
	if c.p.closed.Load() {
		return
	}
	for {
		switch s := c.state.Load(); s {
		case stateIdle:
			if c.state.CompareAndSwap(stateIdle, stateRunning) {
				c.p.work <- c
				return
			}
		case stateRunning:
			if c.state.CompareAndSwap(stateRunning, stateRerunReq) {
				return
			}
		default:
			return
		}
	}
}

// Close forgets the connection. The socket's owner closes it, which also
// removes it from the epoll set. We never EPOLL_CTL_DEL: by then the fd
// number may already belong to a new connection.
func (c *Conn) Close() {
	c.p.forget(c)
}

func (p *Poller) forget(c *Conn) {
	p.mu.Lock()
	delete(p.conns, c.token)
	p.mu.Unlock()
}

func (p *Poller) loop() {
	defer p.wg.Done()
	tokens := make([]uint64, 256)
	hups := make([]bool, 256)
	for !p.closed.Load() {
		n, err := p.impl.wait(tokens, hups)
		if err != nil {
			if p.closed.Load() {
				return
			}
			continue
		}
		for i, t := range tokens[:n] {
			if t == 0 {
				continue // the wake-up event used by Close
			}
			p.mu.Lock()
			c := p.conns[t]
			p.mu.Unlock()
			if c != nil {
				if hups[i] {
					c.hup.Store(true)
				}
				c.schedule()
			}
		}
	}
}

// worker runs handlers. A handler that asks to be parked goes idle, unless
// a rerun was requested while it ran (data arrived, or a Wake).
func (p *Poller) worker() {
	defer p.wg.Done()
	buf := make([]byte, p.bufLen)
	for c := range p.work {
		if c == nil {
			return // Close
		}
		for {
			if !c.h.OnReadable(buf) {
				c.Close()
				break
			}
			if c.state.CompareAndSwap(stateRunning, stateIdle) {
				break
			}
			c.state.Store(stateRunning) // a rerun was requested: go again
		}
	}
}

// Close stops the poller. Registered connections are not closed.
func (p *Poller) Close() {
	if p.closed.Swap(true) {
		return
	}
	p.impl.wakeup()
	for range cap(p.work) {
		select {
		case p.work <- nil:
			continue
		default:
		}
		break
	}
	p.wg.Wait()
	p.impl.close()
}
