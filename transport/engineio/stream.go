package engineio

import (
	"bytes"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/mqttio/mqttio/transport"
)

// Stream serves plain Engine.IO as byte streams: each session is a net.Conn
// delivered to Listener, whose Read yields the payloads of the client's
// binary messages, concatenated, and whose every Write goes out as one
// binary message. A text message closes the session.
type Stream struct {
	*Server
	ln      *transport.Listener
	inbound int
}

// DefaultInbound is the per-session inbound buffer of Stream and of the
// Socket.IO server: bytes received and not yet read by the core before the
// transport stops reading.
const DefaultInbound = 64 << 10

// acceptTimeout bounds how long a new session waits for the core to Accept
// it before it is refused.
const acceptTimeout = 10 * time.Second

// NewStream starts a plain Engine.IO server; inbound is the per-session
// inbound buffer in bytes (0: DefaultInbound).
func NewStream(opts Options, inbound int) *Stream {
	if inbound <= 0 {
		inbound = DefaultInbound
	}
	st := &Stream{ln: transport.NewListener(transport.Addr{Net: "engineio", Str: "engineio"}, 128), inbound: inbound}
	st.Server = NewServer(opts, st.accept)
	return st
}

// Listener yields one net.Conn per session.
func (st *Stream) Listener() net.Listener { return st.ln }

// Close closes the listener and every session.
func (st *Stream) Close() error {
	st.ln.Close()
	return st.Server.Close()
}

func (st *Stream) accept(s *Session) (Receiver, error) {
	c := &streamConn{s: s}
	c.In.Limit = st.inbound
	c.Local, c.Remote = s.LocalAddr(), s.RemoteAddr()
	if err := st.ln.Deliver(c, acceptTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

var errTextMessage = errors.New("engineio: text message on a byte stream")

type streamConn struct {
	transport.Stream
	s      *Session
	closed atomic.Bool
}

func (c *streamConn) Receive(data []byte, binary bool) error {
	if !binary {
		return errTextMessage
	}
	return c.In.Push(data, nil)
}

func (c *streamConn) Closed(err error) { c.In.Close(err) }

// Write sends p as one binary message.
func (c *streamConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if err := c.s.Send(c.WriteDeadline.Done(), Message{Data: bytes.Clone(p), Binary: true}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the session gracefully: queued messages, then the close
// packet.
func (c *streamConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.In.Close(net.ErrClosed)
		c.s.Close()
	}
	return nil
}
