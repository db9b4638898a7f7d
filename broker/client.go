package broker

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mqttio/mqttio/broker/netpoll"
	"github.com/mqttio/mqttio/broker/packet"
)

const (
	// idleReadSize is the read buffer an idle connection holds while it
	// waits for its next packet. Small, because 10 000 idle connections
	// each hold one; a read that fills it switches to a pooled big buffer.
	idleReadSize = 64
	// busyReadSize is the pooled buffer used while data is flowing.
	busyReadSize = 32 << 10
	// maxOutBuffer bounds the bytes waiting to be written to one client.
	// QoS 0 messages beyond it are dropped for that client; QoS 1/2 are
	// bounded by the inflight window instead.
	maxOutBuffer = 4 << 20
	// writeTimeout closes a connection whose peer stopped reading.
	writeTimeout = 30 * time.Second
)

var busyBufs = sync.Pool{New: func() any { b := make([]byte, busyReadSize); return &b }}

// packetPool holds decode targets: about 3 KB of structs that only a
// connection in the middle of handling input needs.
var packetPool = sync.Pool{New: func() any { return new(packets) }}

var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// client is one network connection. Its fields are owned by the reader
// goroutine unless a comment says otherwise.
type client struct {
	srv       *Server
	conn      net.Conn
	transport string

	// Set once by CONNECT, then read-only (read by other goroutines only
	// after connected is set).
	version    packet.Version
	id         string
	info       ClientInfo
	sess       *session
	keepAlive  time.Duration // 0: none
	problem    bool          // v5 Request Problem Information
	recvMax    int           // client's Receive Maximum: our outbound window
	maxPacket  int           // client's Maximum Packet Size, 0: none
	aliasMax   uint16        // client's Topic Alias Maximum: aliases we may use
	connected  atomic.Bool
	lastRead   atomic.Int64 // unix nanos of the last read, for keepalive
	createdAt  int64        // unix nanos, for the CONNECT timeout
	closeOnce  sync.Once
	closeCause atomic.Value // string: why the connection ended, for logs

	will       *will // cleared by a normal DISCONNECT
	normalExit bool  // DISCONNECT received: no will [MQTT-3.14.4-3]

	limits         *rateLimits // publish budgets; nil when none is configured
	pauseUntil     int64       // unix nanos: reading pauses until then (rate limit)
	throttledSince int64       // unix nanos: over its rate since then; 0: within it
	closed         atomic.Bool
	inAliases      map[uint16]string // client's topic aliases towards us
	inflightIn     atomic.Int32      // QoS 1/2 publishes from the client not yet completed
	scratch        *router           // routing scratch space, allocated on first PUBLISH

	small [idleReadSize]byte // goroutine mode: the idle read buffer
	pkt   *packets           // decode targets, from a pool while handling input

	// Poll mode (plain TCP on Linux): no reader goroutine while idle.
	pc      *netpoll.Conn
	raw     syscall.RawConn
	partial []byte // an incomplete packet carried between reads
	readFn  func(fd uintptr) bool
	rbuf    []byte // rawRead's arguments and results, for readFn
	rn      int
	rerr    error
	ended   bool // end has run (poll mode: owned by the running worker)

	// Outbound, guarded by wmu.
	wmu        sync.Mutex
	out        *[]byte
	flushing   bool
	wclosed    bool
	outAliases map[string]uint16
	nextAlias  uint16
	acks       []pendingAck // acks held until the store commit of their message
	flushIdle  func()       // c.flushLoop(false), made once: "go c.flushLoop(false)" allocates a closure per call
}

// packets holds one decode target per packet type, reused for every packet.
type packets struct {
	connect packet.Connect
	publish packet.Publish
	ack     packet.Ack
	sub     packet.Subscribe
	unsub   packet.Unsubscribe
	disc    packet.Disconnect
	auth    packet.Auth
}

func newClient(s *Server, conn net.Conn, transport string) *client {
	now := time.Now().UnixNano()
	c := &client{srv: s, conn: conn, transport: transport, createdAt: now}
	c.flushIdle = func() { c.flushLoop(false) }
	c.lastRead.Store(now)
	return c
}

// errRefused ends the read loop after a final packet (a refusing CONNACK)
// was queued; the flusher closes the connection once it is written.
var errRefused = errors.New("connection refused")

// violation wraps an error returned by a packet handler, as opposed to an
// error reading the connection.
type violation struct{ err error }

func (v violation) Error() string { return v.err.Error() }

// serve runs the read loop until the connection ends, then cleans up.
func (c *client) serve() {
	c.end(c.readLoop())
}

// end runs once when reading stopped for good: it answers a protocol
// violation, closes the connection and detaches the session.
func (c *client) end(err error) {
	if c.ended {
		return
	}
	c.ended = true
	var v violation
	switch {
	case errors.As(err, &v) && v.err == errRefused:
		// The flusher closes the connection after the CONNACK.
	case errors.As(err, &v):
		c.fail(v.err)
	default:
		c.closeConn()
	}
	c.finish(err)
	c.srv.removeClient(c)
}

// readLoop reads and handles packets. While idle it blocks on the small
// inline buffer; a read that fills it takes a pooled buffer for as long as
// data keeps flowing.
func (c *client) readLoop() error {
	var (
		big  *[]byte
		buf  = c.small[:]
		have int // bytes of buf holding unconsumed data
	)
	defer func() {
		if big != nil {
			busyBufs.Put(big)
		}
	}()
	for {
		if c.pauseUntil != 0 {
			// Over its publish rate: sleep it off, then handle the packets
			// that were held back before reading more.
			time.Sleep(time.Duration(c.pauseUntil - nowNanos()))
			c.pauseUntil = 0
			consumed, perr := c.handleBytes(buf[:have])
			if perr != nil {
				return violation{perr}
			}
			have = copy(buf, buf[consumed:have])
			continue
		}
		n, err := c.conn.Read(buf[have:])
		if n > 0 {
			c.lastRead.Store(time.Now().UnixNano())
			filled := have+n == len(buf)
			have += n
			consumed, perr := c.handleBytes(buf[:have])
			if perr != nil {
				return violation{perr}
			}
			have = copy(buf, buf[consumed:have])
			need := c.bytesNeeded(buf[:have])
			switch {
			case need > len(buf) && need > busyReadSize:
				// One packet larger than the pooled buffer (bounded by
				// MaxPacketSize, checked in bytesNeeded): a buffer of its own.
				nb := make([]byte, need)
				copy(nb, buf[:have])
				if big != nil {
					busyBufs.Put(big)
					big = nil
				}
				buf = nb
			case big == nil && (filled || need > len(buf)):
				big = busyBufs.Get().(*[]byte)
				copy(*big, buf[:have])
				buf = *big
			case big != nil && !filled && have <= len(c.small) && need <= len(c.small):
				// The burst is over: give the big buffer back before the
				// next read, which may block for a long time.
				copy(c.small[:], buf[:have])
				busyBufs.Put(big)
				big, buf = nil, c.small[:]
			case big == nil && len(buf) > busyReadSize && need <= len(c.small):
				copy(c.small[:], buf[:have])
				buf = c.small[:]
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return err
		}
	}
}

// bytesNeeded returns how many bytes the packet starting buf needs in total
// (at least len(buf)+1 when even the header is incomplete).
func (c *client) bytesNeeded(buf []byte) int {
	if len(buf) == 0 {
		return 0
	}
	_, _, rem, hl, err := packet.DecodeHeader(buf)
	if err != nil || hl == 0 {
		return len(buf) + 1
	}
	return hl + rem
}

// handleBytes decodes and handles every whole packet in buf and returns how
// many bytes it consumed.
func (c *client) handleBytes(buf []byte) (int, error) {
	if c.pkt == nil {
		c.pkt = packetPool.Get().(*packets)
		defer func() { packetPool.Put(c.pkt); c.pkt = nil }()
	}
	off := 0
	for off < len(buf) {
		t, flags, rem, hl, err := packet.DecodeHeader(buf[off:])
		if err != nil {
			return off, err
		}
		if hl == 0 {
			break
		}
		if hl+rem > c.srv.opts.MaxPacketSize {
			// [MQTT-3.2.2-15]/[MQTT-4.13]: larger than our Maximum Packet Size.
			return off, packet.PacketTooLarge
		}
		if len(buf)-off < hl+rem {
			break
		}
		body := buf[off+hl : off+hl+rem]
		off += hl + rem
		if err := c.handlePacket(t, flags, body); err != nil {
			return off, err
		}
		if c.pauseUntil != 0 {
			// Over its publish rate: the rest waits (in the read buffer or
			// c.partial) until the budget has refilled.
			break
		}
	}
	return off, nil
}

// handlePacket dispatches one packet.
func (c *client) handlePacket(t packet.Type, flags byte, body []byte) error {
	if !c.connected.Load() {
		if t != packet.CONNECT {
			// [MQTT-3.1.0-1]: the first packet must be CONNECT.
			return errProtocol("first packet is not CONNECT")
		}
		return c.handleConnect(flags, body)
	}
	c.srv.stats.packetsIn.Add(1)
	switch t {
	case packet.PUBLISH:
		return c.handlePublish(flags, body)
	case packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP:
		return c.handleAck(t, flags, body)
	case packet.SUBSCRIBE:
		return c.handleSubscribe(flags, body)
	case packet.UNSUBSCRIBE:
		return c.handleUnsubscribe(flags, body)
	case packet.PINGREQ:
		if err := packet.DecodeEmpty(flags, body); err != nil {
			return err
		}
		c.send(packet.AppendPingresp)
		return nil
	case packet.DISCONNECT:
		return c.handleDisconnect(flags, body)
	case packet.AUTH:
		if c.version != packet.V5 {
			return packet.MalformedPacket
		}
		if err := packet.DecodeAuth(flags, body, &c.pkt.auth); err != nil {
			return err
		}
		// No authentication method is configured, so the client cannot have
		// started an exchange [MQTT-4.12.0-1]: a protocol error.
		return errProtocol("AUTH without an authentication method")
	case packet.CONNECT:
		// [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
		return errProtocol("second CONNECT")
	default:
		// CONNACK, SUBACK, UNSUBACK, PINGRESP: server-to-client only.
		return errProtocol("unexpected " + t.String())
	}
}

// protocolError is a protocol violation with a human-readable cause. On v5
// it becomes DISCONNECT 0x82 with the cause as reason string.
type protocolError struct{ why string }

func (e *protocolError) Error() string { return "protocol error: " + e.why }

func errProtocol(why string) error { return &protocolError{why} }

// reasonOf maps an error from a handler onto the DISCONNECT reason code.
func reasonOf(err error) (packet.ReasonCode, string) {
	var rc packet.ReasonCode
	var pe *protocolError
	switch {
	case errors.As(err, &pe):
		return packet.ProtocolError, pe.why
	case errors.As(err, &rc):
		return rc, ""
	default:
		return packet.UnspecifiedError, ""
	}
}

// finish runs after the read loop ended: it reports a protocol error to a
// v5 client, publishes the will when the exit was abnormal and detaches the
// session.
func (c *client) finish(err error) {
	var v violation
	if err != nil && !errors.As(err, &v) && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.srv.log.Debug("connection closed", "client", c.id, "remote", c.remote(), "err", err)
	}
	if c.connected.Load() {
		c.srv.detach(c)
	}
}

// fail is called when a handler returned an error: it tells a v5 client
// why, then closes.
func (c *client) fail(err error) {
	rc, why := reasonOf(err)
	c.closeCause.Store(err.Error())
	if c.connected.Load() && c.version == packet.V5 {
		d := packet.Disconnect{ReasonCode: rc}
		if why != "" && c.problem {
			d.Properties.ReasonString = []byte(why)
		}
		c.sendFinal(func(b []byte) []byte { return packet.AppendDisconnect(b, c.version, &d) })
	} else {
		c.closeConn()
	}
	c.srv.log.Info("closing client after error", "client", c.id, "remote", c.remote(), "reason", rc.String(), "err", err)
}

// disconnect sends a server DISCONNECT (v5 only) and closes the connection;
// used for takeover, shutdown and keepalive expiry. Safe from any goroutine.
func (c *client) disconnect(rc packet.ReasonCode) {
	c.closeCause.Store(rc.String())
	if c.connected.Load() && c.version == packet.V5 {
		d := packet.Disconnect{ReasonCode: rc}
		c.sendFinal(func(b []byte) []byte { return packet.AppendDisconnect(b, packet.V5, &d) })
		return
	}
	c.closeConn()
}

func (c *client) closeConn() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.conn.Close()
		if c.pc != nil {
			c.pc.Wake() // no reader is blocked: let a worker notice
		}
	})
}

func (c *client) remote() string {
	if a := c.conn.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// send appends one encoded packet to the outbound buffer and makes sure a
// flusher will write it. Safe from any goroutine.
func (c *client) send(enc func([]byte) []byte) {
	c.wmu.Lock()
	c.appendLocked(enc)
	c.wmu.Unlock()
}

// appendLocked encodes into the outbound buffer; c.wmu must be held.
func (c *client) appendLocked(enc func([]byte) []byte) {
	if c.wclosed {
		return
	}
	if c.out == nil {
		c.out = outBufs.Get().(*[]byte)
	}
	n := len(*c.out)
	*c.out = enc(*c.out)
	c.srv.stats.bytesOut.Add(int64(len(*c.out) - n))
	c.srv.stats.packetsOut.Add(1)
	c.kickLocked()
}

// appendAckLocked encodes an acknowledgement without a closure: acks are on
// the QoS 1/2 hot path. c.wmu must be held.
func (c *client) appendAckLocked(a *packet.Ack) {
	if c.wclosed {
		return
	}
	if c.out == nil {
		c.out = outBufs.Get().(*[]byte)
	}
	*c.out = packet.AppendAck(*c.out, c.version, a)
	c.srv.stats.packetsOut.Add(1)
	c.kickLocked()
}

func (c *client) kickLocked() {
	if !c.flushing {
		c.flushing = true
		go c.flushIdle()
	}
}

// sendFinal writes a last packet, then closes the connection once it has
// been written (or the write failed).
func (c *client) sendFinal(enc func([]byte) []byte) {
	c.wmu.Lock()
	if c.wclosed {
		c.wmu.Unlock()
		c.closeConn()
		return
	}
	if c.out == nil {
		c.out = outBufs.Get().(*[]byte)
	}
	*c.out = enc(*c.out)
	c.wclosed = true // nothing after the final packet
	if c.flushing {
		// The running flusher sees wclosed after its write and drains what
		// is left, then closes.
		c.wmu.Unlock()
		return
	}
	c.flushing = true
	c.wmu.Unlock()
	go c.flushLoop(true)
}

// flushLoop writes the outbound buffer until it is empty. Exactly one runs
// per client at a time (c.flushing). It closes the connection when the
// buffer was sealed by sendFinal or a write fails.
func (c *client) flushLoop(final bool) {
	var spare *[]byte
	for {
		c.wmu.Lock()
		buf := c.out
		if buf == nil || len(*buf) == 0 {
			closeNow := c.wclosed
			c.flushing = false
			if buf != nil && cap(*buf) <= 64<<10 {
				*buf = (*buf)[:0]
				outBufs.Put(buf)
			}
			c.out = nil
			c.wmu.Unlock()
			if spare != nil && cap(*spare) <= 64<<10 {
				*spare = (*spare)[:0]
				outBufs.Put(spare)
			}
			if closeNow || final {
				c.closeConn()
			}
			return
		}
		if spare != nil {
			*spare = (*spare)[:0]
		}
		c.out = spare
		c.wmu.Unlock()

		c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := c.conn.Write(*buf)
		spare = buf
		if err != nil {
			c.wmu.Lock()
			c.wclosed = true
			c.flushing = false
			c.out = nil
			c.wmu.Unlock()
			c.closeConn()
			return
		}
	}
}

// outLen reports the bytes waiting to be written; c.wmu must be held.
func (c *client) outLenLocked() int {
	if c.out == nil {
		return 0
	}
	return len(*c.out)
}
