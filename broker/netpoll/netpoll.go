// Package netpoll lets idle TCP connections wait for data without a
// goroutine. A parked connection is registered (one-shot) in an epoll set of
// our own; when it becomes readable a worker from a small fixed pool runs
// its handler, which reads with non-blocking syscalls until the socket is
// drained and then parks it again.
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

// Register adds fd with its handler. The connection starts unarmed: call
// Wake to run the handler once (it will find out whether data is there),
// or Park to wait for data.
func (p *Poller) Register(fd int, h Handler) (*Conn, error) {
	p.mu.Lock()
	p.next++
	c := &Conn{p: p, fd: fd, token: p.next, h: h}
	p.conns[c.token] = c
	p.mu.Unlock()
	if err := p.impl.add(fd, c.token); err != nil {
		p.forget(c)
		return nil, err
	}
	return c, nil
}

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
	for !p.closed.Load() {
		n, err := p.impl.wait(tokens)
		if err != nil {
			if p.closed.Load() {
				return
			}
			continue
		}
		for _, t := range tokens[:n] {
			if t == 0 {
				continue // the wake-up event used by Close
			}
			p.mu.Lock()
			c := p.conns[t]
			p.mu.Unlock()
			if c != nil {
				c.schedule()
			}
		}
	}
}

// worker runs handlers. A handler that asks to be parked is re-armed in the
// epoll set unless a rerun was requested while it ran.
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
				if err := p.impl.arm(c.fd, c.token); err != nil {
					// The socket is gone (closed under us): run once more
					// so the handler sees it.
					c.schedule()
				}
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
