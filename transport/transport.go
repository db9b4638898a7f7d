// Package transport holds what the HTTP transports (ws, socketio, engineio)
// share to hand the broker core a plain net.Conn: a channel-backed
// net.Listener, a resettable deadline, a bounded inbound byte queue, and the
// CORS/origin policy of the one HTTP port.
//
// Nothing here knows MQTT: a transport produces byte streams, the core reads
// them as it reads TCP.
package transport

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Addr names a transport endpoint (LocalAddr of its conns, Addr of its
// Listener) when the real socket address belongs to the HTTP server.
type Addr struct{ Net, Str string }

func (a Addr) Network() string { return a.Net }
func (a Addr) String() string  { return a.Str }

// RemoteAddr turns an http.Request's RemoteAddr into a *net.TCPAddr when it
// parses as ip:port (it does for every net/http server on TCP), so the core
// logs and rate-limits HTTP clients exactly as TCP ones.
func RemoteAddr(r *http.Request) net.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return Addr{Net: "tcp", Str: r.RemoteAddr}
}

// LocalAddr is the address of the HTTP listener that served r, or fallback.
func LocalAddr(r *http.Request, fallback net.Addr) net.Addr {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a
	}
	return fallback
}

// Listener is a net.Listener fed by HTTP handlers: each upgraded or
// handshaken session is Delivered, and the core Accepts it as it would a TCP
// connection.
type Listener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewListener returns a listener that queues up to backlog delivered
// conns the core has not yet accepted.
func NewListener(addr net.Addr, backlog int) *Listener {
	return &Listener{addr: addr, conns: make(chan net.Conn, backlog), done: make(chan struct{})}
}

// Deliver hands c to Accept. It blocks while the backlog is full, for at
// most timeout or until the listener closes; then it returns an error and
// the caller still owns c.
func (l *Listener) Deliver(c net.Conn, timeout time.Duration) error {
	select {
	case <-l.done:
		return net.ErrClosed
	default:
	}
	select {
	case l.conns <- c:
		return nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l.conns <- c:
		return nil
	case <-l.done:
		return net.ErrClosed
	case <-t.C:
		return errors.New("transport: accept backlog full")
	}
}

// Accept waits for the next delivered conn.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Deliver fail and closes the conns delivered but
// never accepted. Conns already accepted belong to the core.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		for {
			select {
			case c := <-l.conns:
				c.Close()
			default:
				return
			}
		}
	})
	return nil
}

func (l *Listener) Addr() net.Addr { return l.addr }

// Signal is a broadcast wake-up for waiters under a caller's mutex: Wait
// returns a channel that Broadcast closes. It allocates only while someone
// waits, so idle sessions carry none. The zero value is ready; every method
// must be called with the caller's mutex held.
type Signal struct{ ch chan struct{} }

// Wait returns a channel closed by the next Broadcast.
func (s *Signal) Wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Broadcast wakes every waiter.
func (s *Signal) Broadcast() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// Deadline implements the net.Conn deadline semantics for conns that are not
// sockets: Done is closed once the time set passes, and setting a new time,
// even while someone waits, re-arms it. It holds a runtime timer only while
// a deadline is set, never a goroutine. The zero value has no deadline.
type Deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	gen   uint64        // bumped by Set, so a stale timer cannot fire a new deadline
	ch    chan struct{} // closed once expired; nil until asked for
}

// Set arms the deadline at t; the zero time clears it.
func (d *Deadline) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.ch != nil && isClosed(d.ch) {
		d.ch = nil
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		d.expire()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen {
			d.expire()
		}
	})
}

func (d *Deadline) expire() {
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	if !isClosed(d.ch) {
		close(d.ch)
	}
}

// Done is closed when the deadline has passed.
func (d *Deadline) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Inbox is a session's inbound byte stream, bounded: Push blocks while it
// holds Limit bytes or more, so a core that does not read stops the
// transport from reading (websocket) or answering (polling POST) instead of
// buffering without bound. Chunks are kept as pushed, without copying, and
// the chunk list is dropped when drained so an idle inbox holds nothing.
type Inbox struct {
	Limit int // bytes held before Push blocks; a chunk is admitted while fewer are held

	mu       sync.Mutex
	chunks   [][]byte
	size     int
	err      error // set by Close: returned by Read once drained
	readable Signal
	writable Signal
}

// Push appends p, which the inbox now owns. It blocks while the inbox is
// full, until cancel is closed (nil: never) or the inbox is closed.
func (in *Inbox) Push(p []byte, cancel <-chan struct{}) error {
	if len(p) == 0 {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for in.err == nil && in.size >= in.Limit && in.size > 0 {
		ch := in.writable.Wait()
		in.mu.Unlock()
		select {
		case <-ch:
		case <-cancel:
			in.mu.Lock()
			return errors.New("transport: push cancelled")
		}
		in.mu.Lock()
	}
	if in.err != nil {
		return net.ErrClosed
	}
	in.chunks = append(in.chunks, p)
	in.size += len(p)
	in.readable.Broadcast()
	return nil
}

// Read copies buffered bytes into p, waiting until some arrive, deadline is
// closed (os.ErrDeadlineExceeded) or the inbox is closed and drained (its
// close error).
func (in *Inbox) Read(p []byte, deadline <-chan struct{}) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for in.size == 0 {
		if in.err != nil {
			return 0, in.err
		}
		select {
		case <-deadline:
			return 0, os.ErrDeadlineExceeded
		default:
		}
		ch := in.readable.Wait()
		in.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
		}
		in.mu.Lock()
	}
	n := 0
	for n < len(p) && len(in.chunks) > 0 {
		c := copy(p[n:], in.chunks[0])
		n += c
		if c == len(in.chunks[0]) {
			in.chunks[0] = nil
			in.chunks = in.chunks[1:]
		} else {
			in.chunks[0] = in.chunks[0][c:]
		}
	}
	in.size -= n
	if len(in.chunks) == 0 {
		in.chunks = nil
	}
	in.writable.Broadcast()
	return n, nil
}

// Close ends the stream: Read returns err (io.EOF if nil) once the buffered
// bytes are read, and Push fails at once. Only the first Close counts.
func (in *Inbox) Close(err error) {
	if err == nil {
		err = io.EOF
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err == nil {
		in.err = err
	}
	in.readable.Broadcast()
	in.writable.Broadcast()
}

// CORS is the cross-origin policy of the HTTP port, for polling requests
// (CORS headers) and websocket upgrades (origin check).
type CORS struct {
	// AllowedOrigins lists origins ("https://app.example.com") allowed to
	// call cross-origin; "*" allows any. Empty: same-origin only.
	AllowedOrigins []string
	// AllowCredentials lets browsers send cookies and HTTP auth along.
	AllowCredentials bool
}

// Allowed reports whether a request from origin may proceed on host. A
// request without Origin (not a browser) always may; a same-origin one too.
func (c CORS) Allowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	if i := strings.Index(origin, "://"); i >= 0 && strings.EqualFold(origin[i+3:], host) {
		return true
	}
	return slices.Contains(c.AllowedOrigins, "*") || slices.Contains(c.AllowedOrigins, origin)
}

// Apply writes the CORS response headers for r. It reports true when r was
// a preflight (OPTIONS) request it has fully answered.
func (c CORS) Apply(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	if origin != "" && len(c.AllowedOrigins) > 0 && c.Allowed(origin, r.Host) {
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		if c.AllowCredentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	if r.Method != http.MethodOptions {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// Stream is the read half, deadlines and addresses of a net.Conn built on a
// message transport; a transport embeds it and adds Write and Close.
type Stream struct {
	In            Inbox
	ReadDeadline  Deadline
	WriteDeadline Deadline
	Local, Remote net.Addr
}

// Read reads the inbound byte stream.
func (c *Stream) Read(p []byte) (int, error) { return c.In.Read(p, c.ReadDeadline.Done()) }

func (c *Stream) LocalAddr() net.Addr  { return c.Local }
func (c *Stream) RemoteAddr() net.Addr { return c.Remote }

func (c *Stream) SetDeadline(t time.Time) error {
	c.ReadDeadline.Set(t)
	c.WriteDeadline.Set(t)
	return nil
}

func (c *Stream) SetReadDeadline(t time.Time) error {
	c.ReadDeadline.Set(t)
	return nil
}

func (c *Stream) SetWriteDeadline(t time.Time) error {
	c.WriteDeadline.Set(t)
	return nil
}
