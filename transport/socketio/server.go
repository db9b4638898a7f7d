// Package socketio serves MQTT.IO: MQTT over Socket.IO, protocol v5 on
// Engine.IO v4 and protocol rev 4 on Engine.IO v3 (socket.io-client 1.x and
// 2.x, which the 2014 MQTT.IO page used), chosen per session by the EIO query.
//
// The MQTT.IO contract: namespace /mqtt, event "message", exactly one binary
// argument of raw MQTT bytes, both directions, no acks. Each namespace
// connection is a net.Conn delivered to Listener. Inbound, the attachments
// are concatenated into a byte stream (a packet may span events, an event
// may hold several); outbound, Write sends one MQTT packet per event.
//
// Anything else gets a clean refusal: CONNECT_ERROR for other namespaces,
// events of other names are ignored (their attachments discarded), and a
// "message" that is not one binary argument, a binary message nobody
// announced, or a malformed packet closes the session.
package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttio/mqttio/transport"
	"github.com/mqttio/mqttio/transport/engineio"
)

const mqttNamespace = "/mqtt"

var (
	// mqttArgs is the event payload of every MQTT.IO message, both ways.
	mqttArgs = []byte(`["message",{"_placeholder":true,"num":0}]`)
	// eventHeader announces one MQTT packet, the binary message after it.
	eventHeader      = AppendPacket(nil, Packet{Type: BinaryEvent, Attachments: 1, Namespace: mqttNamespace, ID: -1, Data: mqttArgs})
	disconnectPacket = AppendPacket(nil, Packet{Type: Disconnect, Namespace: mqttNamespace, ID: -1})
)

// Options configures a Server.
type Options struct {
	// EngineIO configures the Engine.IO layer; AllowEIO3 is turned on
	// unless NoEIO3.
	EngineIO engineio.Options
	NoEIO3   bool
	// InboundBuffer is the per-connection inbound buffer in bytes (0:
	// engineio.DefaultInbound). When the core does not read, the session
	// stops reading its transport.
	InboundBuffer int
}

// Server is the /socket.io/ endpoint, an http.Handler.
type Server struct {
	eio     *engineio.Server
	ln      *transport.Listener
	inbound int
	group   int // outbound bytes per Send: half the session buffer, so writes pipeline
	log     *slog.Logger
}

// acceptTimeout bounds how long a namespace connect waits for the core to
// Accept its conn.
const acceptTimeout = 10 * time.Second

// NewServer starts a Socket.IO server; Close stops it.
func NewServer(opts Options) *Server {
	eo := opts.EngineIO
	eo.AllowEIO3 = !opts.NoEIO3
	if eo.Logger == nil {
		eo.Logger = slog.Default()
	}
	if eo.MaxBuffered <= 0 {
		eo.MaxBuffered = engineio.DefaultOptions.MaxBuffered
	}
	srv := &Server{
		ln:      transport.NewListener(transport.Addr{Net: "socketio", Str: "socketio"}, 128),
		inbound: opts.InboundBuffer,
		group:   max(eo.MaxBuffered/2, 1),
		log:     eo.Logger,
	}
	if srv.inbound <= 0 {
		srv.inbound = engineio.DefaultInbound
	}
	srv.eio = engineio.NewServer(eo, srv.accept)
	return srv
}

func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { srv.eio.ServeHTTP(w, r) }

// Listener yields one net.Conn per /mqtt namespace connection.
func (srv *Server) Listener() net.Listener { return srv.ln }

// Engine is the underlying Engine.IO server (session count, tests).
func (srv *Server) Engine() *engineio.Server { return srv.eio }

// Close closes the listener and every session.
func (srv *Server) Close() error {
	srv.ln.Close()
	return srv.eio.Close()
}

func (srv *Server) accept(es *engineio.Session) (engineio.Receiver, error) {
	ss := &session{srv: srv, es: es}
	if es.Protocol() == 3 {
		// Rev 4 servers connect the root namespace unasked.
		if err := es.Send(nil, engineio.Message{Data: []byte("0")}); err != nil {
			return nil, err
		}
	}
	return ss, nil
}

// Why sessions end (logged at debug level).
var (
	errUnexpectedBinary = errors.New("socketio: binary message without a binary event")
	errMissingBinary    = errors.New("socketio: text packet while an attachment is due")
	errNotConnected     = errors.New("socketio: packet for a namespace not connected")
	errDoubleConnect    = errors.New("socketio: namespace connected twice")
	errUnexpectedPacket = errors.New("socketio: unexpected packet type from a client")
	errNotMQTT          = errors.New(`socketio: "message" must carry exactly one binary argument`)
)

// session is the Socket.IO state of one Engine.IO session: its /mqtt conn
// once connected, and the attachments still due for the last binary event.
// Receive runs on one goroutine at a time (engineio guarantees it).
type session struct {
	srv      *Server
	es       *engineio.Session
	conn     atomic.Pointer[conn] // read by Closed, from any goroutine
	due      int                  // attachments still to come
	toStream bool                 // and they are MQTT bytes (else discarded)
}

func (ss *session) Receive(data []byte, binary bool) error {
	if binary {
		if ss.due == 0 {
			return errUnexpectedBinary
		}
		ss.due--
		if ss.toStream {
			return ss.conn.Load().In.Push(data, nil)
		}
		return nil
	}
	if ss.due > 0 {
		return errMissingBinary
	}
	p, err := ParsePacket(data)
	if err != nil {
		return err
	}
	proto := ss.es.Protocol()
	switch p.Type {
	case Connect:
		return ss.connect(p, proto)
	case Disconnect:
		if (p.Namespace == mqttNamespace && ss.conn.Load() != nil) || (p.Namespace == "/" && proto == 3) {
			ss.es.Close()
			return nil
		}
		return errNotConnected
	case Event, BinaryEvent:
		return ss.event(p, proto)
	}
	return errUnexpectedPacket
}

func (ss *session) Closed(err error) {
	if c := ss.conn.Load(); c != nil {
		c.In.Close(err)
	}
}

func (ss *session) connect(p Packet, proto int) error {
	if p.Namespace != mqttNamespace {
		if p.Namespace == "/" && proto == 3 {
			return nil // connected already, implicitly
		}
		var refusal []byte
		if proto == 3 {
			refusal = AppendPacket(nil, Packet{Type: ConnectError, Namespace: p.Namespace, ID: -1, Data: []byte(`"Invalid namespace"`)})
		} else {
			refusal = AppendPacket(nil, Packet{Type: ConnectError, Namespace: p.Namespace, ID: -1, Data: []byte(`{"message":"Invalid namespace"}`)})
		}
		return ss.es.Send(nil, engineio.Message{Data: refusal})
	}
	if ss.conn.Load() != nil {
		return errDoubleConnect
	}
	reply := Packet{Type: Connect, Namespace: mqttNamespace, ID: -1}
	if proto >= 4 {
		reply.Data = fmt.Appendf(nil, `{"sid":"%s"}`, engineio.RandomID())
	}
	c := &conn{es: ss.es, group: ss.srv.group}
	c.In.Limit = ss.srv.inbound
	c.Local, c.Remote = ss.es.LocalAddr(), ss.es.RemoteAddr()
	if err := ss.es.Send(nil, engineio.Message{Data: AppendPacket(nil, reply)}); err != nil {
		return err
	}
	ss.conn.Store(c)
	return ss.srv.ln.Deliver(c, acceptTimeout)
}

// event takes the MQTT bytes of a "message" event and ignores events of
// other names (discarding their attachments).
func (ss *session) event(p Packet, proto int) error {
	connected := ss.conn.Load() != nil && p.Namespace == mqttNamespace
	if !connected && !(p.Namespace == "/" && proto == 3) {
		return errNotConnected
	}
	if connected && isMQTTEvent(p) {
		ss.due, ss.toStream = 1, true
		return nil
	}
	if name, _ := eventName(p.Data); connected && name == "message" {
		ss.es.Close(engineio.Message{Data: disconnectPacket})
		return errNotMQTT
	}
	ss.srv.log.Debug("socketio: event ignored", "sid", ss.es.ID(), "namespace", p.Namespace)
	ss.due, ss.toStream = p.Attachments, false
	return nil
}

// isMQTTEvent reports whether p is ["message", <one binary placeholder>].
func isMQTTEvent(p Packet) bool {
	if p.Type != BinaryEvent || p.Attachments != 1 {
		return false
	}
	if bytes.Equal(p.Data, mqttArgs) {
		return true
	}
	var args []json.RawMessage
	var name string
	var ph struct {
		Placeholder bool `json:"_placeholder"`
		Num         *int `json:"num"`
	}
	return json.Unmarshal(p.Data, &args) == nil && len(args) == 2 &&
		json.Unmarshal(args[0], &name) == nil && name == "message" &&
		json.Unmarshal(args[1], &ph) == nil && ph.Placeholder && ph.Num != nil && *ph.Num == 0
}

// conn is one /mqtt namespace connection as the core sees it.
type conn struct {
	transport.Stream
	es     *engineio.Session
	group  int
	closed atomic.Bool

	wmu   sync.Mutex
	carry []byte // the start of a packet a Write ended in the middle of
}

// Write sends each MQTT packet of p as one event: the event header, then
// the packet as its binary attachment. Packets are found by their fixed
// header (type byte, variable byte integer length), framing only. A packet
// cut at the end of p waits for the next Write.
func (c *conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	carried := len(c.carry)
	buf := make([]byte, carried+len(p)) // the session owns it until sent
	copy(buf, c.carry)
	copy(buf[carried:], p)
	c.carry = nil

	mp := msgPool.Get().(*[]engineio.Message)
	defer func() {
		if cap(*mp) <= 2*maxGroup {
			clear(*mp)
			*mp = (*mp)[:0]
			msgPool.Put(mp)
		}
	}()
	msgs := (*mp)[:0]
	sent, off, size := 0, 0, 0
	send := func() error {
		err := c.es.Send(c.WriteDeadline.Done(), msgs...)
		*mp, msgs = msgs, msgs[:0] // Send copied them: the list is ours again
		if err != nil {
			return err
		}
		sent, size = off, 0
		return nil
	}
	for off < len(buf) {
		n := packetLen(buf[off:])
		if n == 0 {
			break
		}
		if n < 0 { // not MQTT framing: pass it on whole, the core will judge
			n = len(buf) - off
		}
		msgs = append(msgs, engineio.Message{Data: eventHeader}, engineio.Message{Data: buf[off : off+n : off+n], Binary: true})
		off += n
		if size += n; size >= c.group || len(msgs) >= maxGroup {
			if err := send(); err != nil {
				return max(sent-carried, 0), err
			}
		}
	}
	if len(msgs) > 0 {
		if err := send(); err != nil {
			return max(sent-carried, 0), err
		}
	}
	if off < len(buf) {
		c.carry = bytes.Clone(buf[off:])
	}
	return len(p), nil
}

// msgPool holds the message lists Write hands to Send, which copies them;
// a list holds at most maxGroup messages (maxGroup/2 MQTT packets).
var msgPool = sync.Pool{New: func() any { m := make([]engineio.Message, 0, 64); return &m }}

const maxGroup = 512

// packetLen is the length of the MQTT packet b starts with: 0 when b holds
// only part of it, -1 when its remaining length is malformed.
func packetLen(b []byte) int {
	rem, shift := 0, 0
	for i := 1; i <= 4; i++ {
		if i >= len(b) {
			return 0
		}
		rem |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			if total := 1 + i + rem; total <= len(b) {
				return total
			}
			return 0
		}
		shift += 7
	}
	return -1
}

// Close disconnects the namespace and closes the session, after what was
// written so far has been sent.
func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.In.Close(net.ErrClosed)
		c.es.Close(engineio.Message{Data: disconnectPacket})
	}
	return nil
}
