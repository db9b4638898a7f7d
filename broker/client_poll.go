package broker

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// startPolled hands a plain TCP connection to the server's poller, so that
// it holds no goroutine while idle. It reports false when the connection
// cannot be polled (not a *net.TCPConn); the caller then serves it with a
// reader goroutine.
func (c *client) startPolled() bool {
	tc, ok := c.conn.(*net.TCPConn)
	if !ok {
		return false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil || fd < 0 {
		return false
	}
	c.raw = raw
	// One closure per connection, not one per read.
	c.readFn = func(fd uintptr) bool {
		c.rn, c.rerr = syscall.Read(int(fd), c.rbuf)
		return true
	}
	c.pc = c.srv.poller.Register(fd, c)
	c.srv.conns.Add(1) // done in OnReadable when the connection ends
	if err := c.pc.Start(); err != nil {
		c.srv.conns.Done()
		c.pc, c.raw, c.readFn = nil, nil, nil
		return false
	}
	return true
}

// maxReadsPerWake bounds how long one busy connection keeps a worker before
// the others get their turn.
const maxReadsPerWake = 16

// OnReadable runs on a poller worker when the socket is readable (or was
// woken to notice a close). buf is the worker's read buffer. It reads with
// non-blocking syscalls and handles every whole packet; an incomplete one is
// kept in c.partial. It reports whether the connection should wait for more.
func (c *client) OnReadable(buf []byte) bool {
	if c.ended {
		return false
	}
	for range maxReadsPerWake {
		if c.pauseUntil != 0 && !c.closed.Load() {
			// Over its publish rate (see throttle): wait for the sweeper's
			// wake-up, then handle what was held back before reading more.
			if d := time.Duration(c.pauseUntil - nowNanos()); d > 0 {
				c.srv.timers.after(d, c.pc.Wake)
				return true
			}
			c.pauseUntil = 0
			if p := c.partial; len(p) > 0 && c.bytesNeeded(p) <= len(p) {
				c.partial = nil
				if !c.consume(p, buf) {
					return false
				}
				continue
			}
		}
		if c.partial != nil && cap(c.partial) > len(buf) {
			// A packet larger than the worker buffer: read straight into
			// its own buffer, sized from its header (bounded by
			// MaxPacketSize: handleBytes refuses larger headers).
			n, err := c.rawRead(c.partial[len(c.partial):cap(c.partial)])
			if n > 0 {
				c.partial = c.partial[:len(c.partial)+n]
				if len(c.partial) == cap(c.partial) {
					p := c.partial
					c.partial = nil
					if !c.consume(p, buf) {
						return false
					}
				}
				continue
			}
			return c.readFailed(err)
		}
		have := copy(buf, c.partial)
		n, err := c.rawRead(buf[have:])
		if n <= 0 {
			return c.readFailed(err)
		}
		c.partial = nil
		c.lastRead.Store(nowNanos())
		if !c.consume(buf[:have+n], buf) {
			return false
		}
		if c.pauseUntil != 0 {
			continue // the check at the top schedules the wake-up
		}
		if have+n < len(buf) && !c.pc.HungUp() {
			// Drained the socket (a short read): the edge-triggered poller
			// wakes us again when more arrives.
			return true
		}
	}
	// Read budget spent with data left: the socket will not signal again
	// for what is already there, so ask for another run.
	c.pc.Wake()
	return true
}

// consume handles the packets in data and keeps an incomplete tail.
func (c *client) consume(data, workerBuf []byte) bool {
	consumed, err := c.handleBytes(data)
	if err != nil {
		c.endPolled(violation{err})
		return false
	}
	rest := data[consumed:]
	if len(rest) == 0 {
		return true
	}
	// handleBytes already refused a header announcing more than
	// MaxPacketSize, so need is bounded.
	need := c.bytesNeeded(rest)
	size := len(rest)
	if need > len(workerBuf) {
		size = need // room for the whole packet
	}
	p := make([]byte, len(rest), max(size, len(rest)))
	copy(p, rest)
	c.partial = p
	return true
}

// readFailed handles a read that returned no data.
func (c *client) readFailed(err error) bool {
	if errors.Is(err, syscall.EAGAIN) {
		return true
	}
	if err == nil {
		err = io.EOF
	}
	c.endPolled(err)
	return false
}

func (c *client) rawRead(p []byte) (n int, err error) {
	c.rbuf = p
	rerr := c.raw.Read(c.readFn)
	n, err = c.rn, c.rerr
	c.rbuf, c.rerr = nil, nil
	if rerr != nil {
		return 0, rerr
	}
	if n < 0 {
		n = 0
	}
	if n == 0 && err == nil && len(p) > 0 {
		return 0, io.EOF
	}
	return n, err
}

func (c *client) endPolled(err error) {
	c.end(err)
	c.srv.conns.Done()
}
