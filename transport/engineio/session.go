package engineio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/transport"
)

type state uint8

const (
	stateOpen    state = iota
	stateClosing       // Close was called: the queue drains, then the close packet goes
	stateClosed
)

// Session is one Engine.IO client session, on polling or websocket.
//
// Outbound packets wait in queue until a held GET takes them (polling) or
// the flusher goroutine writes them (websocket; it runs only while the queue
// is non-empty). queued counts the bytes queued or being written, and Send
// blocks while it is at MaxBuffered.
type Session struct {
	id     string
	srv    *Server
	proto  uint8
	remote net.Addr
	local  net.Addr
	rcv    Receiver

	recvMu   sync.Mutex   // serializes Receive across POSTs and websocket frames
	inflight atomic.Int32 // deliveries under way: a session busy delivering is alive

	mu        sync.Mutex
	state     state
	closeErr  error           // why Close was called (nil: by the upper layer)
	ws        *websocket.Conn // set once on websocket (handshake or upgrade)
	probe     *websocket.Conn // an upgrade under way
	upgrading bool            // the probe answered "3probe": held GETs return at once
	flushing  bool            // a flusher goroutine is writing to ws
	getting   bool            // a polling GET is held
	posting   bool            // a polling POST is being read
	queue     []Packet
	queued    int
	changed   transport.Signal // queue, transport or state changed: wakes a held GET
	space     transport.Signal // queued went down or state changed: wakes Send

	// Heartbeat clock, as durations since Server.epoch.
	lastSeen     time.Duration
	nextPing     time.Duration // v4: when to ping next
	pingDeadline time.Duration // v4: the pong is due by then
	pinging      bool          // v4: a ping awaits its pong
	closeBy      time.Duration // stateClosing: give up draining then
}

// ID is the Engine.IO session id.
func (s *Session) ID() string { return s.id }

// Protocol is the Engine.IO protocol version, 3 or 4.
func (s *Session) Protocol() int { return int(s.proto) }

// RemoteAddr is the HTTP peer of the handshake.
func (s *Session) RemoteAddr() net.Addr { return s.remote }

// LocalAddr is the address of the HTTP listener of the handshake.
func (s *Session) LocalAddr() net.Addr { return s.local }

// Transport is "polling" or "websocket".
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws != nil {
		return "websocket"
	}
	return "polling"
}

// Send queues msgs as one unit, in order and never interleaved with another
// Send. The session owns their Data until it is written. Send blocks while
// MaxBuffered bytes are queued (a unit larger than that is admitted into an
// empty queue), until deadline is closed (os.ErrDeadlineExceeded; nil:
// never) or the session is closing (net.ErrClosed).
func (s *Session) Send(deadline <-chan struct{}, msgs ...Message) error {
	size := 0
	for _, m := range msgs {
		size += len(m.Data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.state != stateOpen {
			return net.ErrClosed
		}
		if s.queued == 0 || s.queued+size <= s.srv.opts.MaxBuffered {
			break
		}
		ch := s.space.Wait()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			s.mu.Lock()
			return os.ErrDeadlineExceeded
		}
		s.mu.Lock()
	}
	if c := s.ws; c != nil && !s.flushing && len(s.queue) == 0 {
		// Nothing is ahead on the websocket: the caller writes msgs itself,
		// with no queue and no goroutine hand-off (the Socket.IO hot path:
		// the caller is the core's writer, which may block), then whatever
		// was queued meanwhile.
		s.flushing = true
		s.queued += size
		s.mu.Unlock()
		ok := s.writeThrough(c, msgs, size)
		if ok {
			s.flush(c)
		}
		s.mu.Lock()
		if !ok {
			return net.ErrClosed
		}
		return nil
	}
	s.appendMessages(msgs)
	s.kick()
	return nil
}

func (s *Session) appendMessages(msgs []Message) {
	for _, m := range msgs {
		s.queue = append(s.queue, Packet{Type: MessagePacket, Data: m.Data, Binary: m.Binary})
		s.queued += len(m.Data)
	}
}

// Close ends the session gracefully: final (queued regardless of
// MaxBuffered) and everything queued before are sent, then the close
// packet. Sends fail from now on. Idempotent.
func (s *Session) Close(final ...Message) { s.closeWith(nil, final...) }

func (s *Session) closeWith(reason error, final ...Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return
	}
	s.state = stateClosing
	s.closeErr = reason
	s.closeBy = s.srv.now() + s.srv.opts.PingTimeout
	s.appendMessages(final)
	s.queue = append(s.queue, Packet{Type: ClosePacket})
	s.space.Broadcast()
	s.kick()
}

// kick tells the transport that packets are queued. s.mu is held.
func (s *Session) kick() {
	s.changed.Broadcast()
	if s.ws != nil && !s.flushing && len(s.queue) > 0 {
		s.flushing = true
		go s.flush(s.ws)
	}
}

// control queues a heartbeat packet. They are tiny and bypass MaxBuffered,
// but a session whose client reads nothing gets no more of them: it will
// miss its heartbeat and be dropped. s.mu is held.
func (s *Session) control(p Packet) {
	if s.state == stateClosed || s.queued >= s.srv.opts.MaxBuffered {
		return
	}
	s.queue = append(s.queue, p)
	s.queued += len(p.Data)
	s.kick()
}

// sent accounts for packets written to the client; after the close packet
// the session is over.
func (s *Session) sent(pkts []Packet) {
	n, closing := 0, false
	for _, p := range pkts {
		n += len(p.Data)
		closing = closing || p.Type == ClosePacket
	}
	s.mu.Lock()
	if s.state != stateClosed {
		s.queued -= n
	}
	s.space.Broadcast()
	reason := s.closeErr
	s.mu.Unlock()
	if closing {
		s.finish(reason)
	}
}

// finish ends the session at once: it leaves the server, its sockets close,
// waiters wake, and the receiver hears of it. Idempotent.
func (s *Session) finish(err error) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	s.state = stateClosed
	ws, probe := s.ws, s.probe
	s.queue, s.queued = nil, 0
	s.changed.Broadcast()
	s.space.Broadcast()
	s.mu.Unlock()
	s.srv.remove(s)
	for _, c := range [2]*websocket.Conn{ws, probe} {
		if c != nil {
			// The close frame may wait behind a stalled write: never make
			// the caller (perhaps the sweeper) wait for it.
			go closeWebsocket(c)
		}
	}
	if s.rcv != nil {
		s.rcv.Closed(err)
	}
	s.srv.log.Debug("engineio: session closed", "sid", s.id, "err", err)
}

func closeWebsocket(c *websocket.Conn) {
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.Close()
}

// check runs the session's heartbeat and timeouts; the sweeper calls it.
func (s *Session) check(now time.Duration) {
	o := &s.srv.opts
	var expired error
	s.mu.Lock()
	busy := s.inflight.Load() > 0 // a blocked delivery is the core's slowness, not the client's
	switch {
	case s.state == stateClosing:
		if now >= s.closeBy {
			expired = ErrCloseTimeout
		}
	case s.state != stateOpen:
	case s.proto == 3: // the client pings; silence past interval+timeout is death
		if !busy && now-s.lastSeen > o.PingInterval+o.PingTimeout {
			expired = ErrPingTimeout
		}
	case s.pinging:
		if !busy && now > s.pingDeadline {
			expired = ErrPingTimeout
		}
	case now >= s.nextPing:
		s.pinging = true
		s.pingDeadline = now + o.PingTimeout
		s.control(Packet{Type: PingPacket})
	}
	s.mu.Unlock()
	if expired != nil {
		s.finish(expired)
	}
}

// touch records that the client showed signs of life.
func (s *Session) touch() {
	now := s.srv.now()
	s.mu.Lock()
	s.lastSeen = now
	if s.pinging {
		s.pingDeadline = max(s.pingDeadline, now+s.srv.opts.PingTimeout)
	}
	s.mu.Unlock()
}

// handle acts on one inbound packet from the session's current transport.
// io.EOF means the client closed the session.
func (s *Session) handle(p Packet) error {
	s.touch()
	switch p.Type {
	case MessagePacket:
		s.deliver(p.Data, p.Binary)
	case PingPacket:
		if s.proto != 3 {
			return ErrHeartbeat
		}
		s.mu.Lock()
		s.control(Packet{Type: PongPacket, Data: p.Data})
		s.mu.Unlock()
	case PongPacket:
		if s.proto == 3 {
			return ErrHeartbeat
		}
		s.mu.Lock()
		s.pinging = false
		s.nextPing = s.srv.now() + s.srv.opts.PingInterval
		s.mu.Unlock()
	case ClosePacket:
		return io.EOF
	case NoopPacket, UpgradePacket:
	default:
		return ErrPayload
	}
	return nil
}

func (s *Session) deliver(data []byte, binary bool) {
	s.inflight.Add(1)
	s.recvMu.Lock()
	s.mu.Lock()
	open := s.state == stateOpen
	s.mu.Unlock()
	var err error
	if open {
		err = s.rcv.Receive(data, binary)
	}
	s.recvMu.Unlock()
	s.inflight.Add(-1)
	if err != nil {
		s.srv.log.Debug("engineio: receiver closes session", "sid", s.id, "err", err)
		s.closeWith(err)
	} else {
		s.touch()
	}
}

// poll answers a polling GET: at once with what is queued, or when
// something is, or with a noop while the session upgrades.
func (s *Session) poll(w http.ResponseWriter, r *http.Request, b64 bool) {
	s.mu.Lock()
	switch {
	case s.state == stateClosed:
		s.mu.Unlock()
		writeError(w, codeUnknownSID)
		return
	case s.ws != nil: // upgraded: polling is over
		s.mu.Unlock()
		writeError(w, codeBadRequest)
		return
	case s.getting:
		s.mu.Unlock()
		s.finish(ErrOverlap)
		writeError(w, codeBadRequest)
		return
	}
	s.getting = true
	for len(s.queue) == 0 && s.state != stateClosed && s.ws == nil && !s.upgrading {
		ch := s.changed.Wait()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			s.mu.Lock()
			s.getting = false
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
	}
	pkts := s.queue
	s.queue = nil
	switch {
	case len(pkts) > 0:
	case s.state == stateClosed:
		pkts = []Packet{{Type: ClosePacket}}
	default:
		pkts = []Packet{{Type: NoopPacket}}
	}
	s.getting = false
	s.mu.Unlock()

	ct, body := "text/plain; charset=UTF-8", make([]byte, 0, payloadSize(pkts))
	switch {
	case s.proto >= 4:
		body = AppendPayloadV4(body, pkts)
	case !b64 && hasBinary(pkts):
		ct, body = "application/octet-stream", AppendPayloadV3Binary(body, pkts)
	default:
		body = AppendPayloadV3Text(body, pkts)
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.Write(body)
	s.sent(pkts)
}

func payloadSize(pkts []Packet) int {
	n := 0
	for _, p := range pkts {
		n += len(p.Data)*4/3 + 16
	}
	return n
}

func hasBinary(pkts []Packet) bool {
	for _, p := range pkts {
		if p.Binary {
			return true
		}
	}
	return false
}

// post reads a polling POST and acts on its packets before answering "ok":
// a receiver that blocks makes the answer slow, which is the backpressure.
func (s *Session) post(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	switch {
	case s.state == stateClosed:
		s.mu.Unlock()
		writeError(w, codeUnknownSID)
		return
	case s.ws != nil:
		s.mu.Unlock()
		writeError(w, codeBadRequest)
		return
	case s.posting:
		s.mu.Unlock()
		s.finish(ErrOverlap)
		writeError(w, codeBadRequest)
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	body, err := readBody(r, s.srv.opts.MaxPayload)
	if err == ErrTooLarge {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		s.finish(err)
		return
	}
	if err != nil {
		return // the client went away mid-body
	}
	var pkts []Packet
	switch {
	case s.proto >= 4:
		pkts, err = DecodePayloadV4(body)
	case r.Header.Get("Content-Type") == "application/octet-stream":
		pkts, err = DecodePayloadV3Binary(body)
	default:
		pkts, err = DecodePayloadV3Text(body)
	}
	for _, p := range pkts {
		if err != nil {
			break
		}
		err = s.handle(p)
	}
	if err != nil && err != io.EOF {
		s.finish(err)
		writeError(w, codeBadRequest)
		return
	}
	if err == io.EOF {
		s.finish(io.EOF)
	}
	w.Header().Set("Content-Type", "text/html")
	w.Write([]byte("ok"))
}

func readBody(r *http.Request, limit int) ([]byte, error) {
	if r.ContentLength > int64(limit) {
		return nil, ErrTooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, int64(limit)+1)); err != nil {
		return nil, err
	}
	if buf.Len() > limit {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

// Outbound websocket frames are encoded here, not by gorilla/websocket:
// flush puts every frame it has into one buffer and writes it with one
// system call (gorilla makes one per frame, two per MQTT.IO event). The
// buffers are pooled: a session holds one only while it writes.
//
// Writing to the socket beside gorilla is safe: each Write holds whole
// frames, and a net.Conn (TCP or TLS) never interleaves two Writes, so the
// control frames gorilla writes itself (close, pong) fall between ours.
const (
	flushChunk   = 32 << 10  // write once this much is encoded
	maxPooledBuf = 128 << 10 // larger buffers (one big frame) are not kept
)

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// appendFrame appends p as one final, unmasked server frame: text, the type
// digit and the data; or binary, the data (in v3 after the type byte).
func appendFrame(dst []byte, proto uint8, p Packet) []byte {
	op, n := byte(websocket.TextMessage), 1+len(p.Data)
	if p.Binary {
		op = websocket.BinaryMessage
		if proto != 3 {
			n = len(p.Data)
		}
	}
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	switch {
	case !p.Binary:
		dst = append(dst, '0'+byte(p.Type))
	case proto == 3:
		dst = append(dst, byte(p.Type))
	}
	return append(dst, p.Data...)
}

// flush writes the queue to the websocket until it is empty, then clears
// s.flushing; kick starts it on a goroutine of its own, Send in its caller.
func (s *Session) flush(c *websocket.Conn) {
	bp := framePool.Get().(*[]byte)
	defer putFrameBuf(bp)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.state == stateClosed {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		pkts := s.queue
		s.queue = nil
		s.mu.Unlock()
		buf := (*bp)[:0]
		for _, p := range pkts {
			if buf = appendFrame(buf, s.proto, p); len(buf) >= flushChunk {
				if !s.write(c, buf) {
					return
				}
				buf = shrink(buf)
			}
		}
		*bp = buf
		if len(buf) > 0 && !s.write(c, buf) {
			return
		}
		s.sent(pkts)
	}
}

// writeThrough writes msgs, size bytes that Send counted in s.queued, while
// s.flushing is held for it; it reports false when the session failed.
func (s *Session) writeThrough(c *websocket.Conn, msgs []Message, size int) bool {
	bp := framePool.Get().(*[]byte)
	defer putFrameBuf(bp)
	buf := (*bp)[:0]
	for _, m := range msgs {
		if buf = appendFrame(buf, s.proto, Packet{Type: MessagePacket, Data: m.Data, Binary: m.Binary}); len(buf) >= flushChunk {
			if !s.write(c, buf) {
				return false
			}
			buf = shrink(buf)
		}
	}
	*bp = buf
	if len(buf) > 0 && !s.write(c, buf) {
		return false
	}
	s.mu.Lock()
	if s.state != stateClosed {
		s.queued -= size
	}
	s.space.Broadcast()
	s.mu.Unlock()
	return true
}

// write writes whole frames to the websocket's connection; a failure ends
// the session (and the caller's flushing).
func (s *Session) write(c *websocket.Conn, frames []byte) bool {
	nc := c.NetConn()
	nc.SetWriteDeadline(time.Now().Add(s.srv.opts.WriteTimeout))
	if _, err := nc.Write(frames); err != nil {
		s.mu.Lock()
		s.flushing = false
		s.mu.Unlock()
		s.finish(err)
		return false
	}
	return true
}

// shrink empties a frame buffer for reuse, or replaces one grown past
// maxPooledBuf by a big frame.
func shrink(buf []byte) []byte {
	if cap(buf) > maxPooledBuf {
		return make([]byte, 0, flushChunk)
	}
	return buf[:0]
}

func putFrameBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuf {
		*bp = (*bp)[:0]
		framePool.Put(bp)
	}
}

// scratchPool holds the buffers readMessage reads frames into; a session
// holds one only while a frame arrives, never while it waits for one.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readMessage reads the next message of c into a slice of its exact size,
// which the caller owns: unlike gorilla's ReadMessage, which starts every
// message at 512 bytes (most MQTT.IO frames are a header of 47 and an MQTT
// packet of a few dozen).
func readMessage(c *websocket.Conn) (int, []byte, error) {
	mt, r, err := c.NextReader()
	if err != nil {
		return 0, nil, err
	}
	bp := scratchPool.Get().(*[]byte)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		var n int
		n, err = r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			break
		}
	}
	var data []byte
	if err == io.EOF {
		data, err = append([]byte(nil), buf...), nil
	}
	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		scratchPool.Put(bp)
	}
	return mt, data, err
}

// readLoop reads the session's websocket until it fails.
func (s *Session) readLoop(c *websocket.Conn) {
	for {
		mt, data, err := readMessage(c)
		if err == nil {
			var p Packet
			if p, err = decodeFrame(int(s.proto), mt == websocket.BinaryMessage, data); err == nil {
				err = s.handle(p)
			}
		}
		if err != nil {
			s.finish(err)
			return
		}
	}
}

// probeUpgrade opens the websocket a polling session wants to move to.
func (s *Session) probeUpgrade(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ok := s.state == stateOpen && s.ws == nil && s.probe == nil
	s.mu.Unlock()
	if !ok {
		writeError(w, codeBadRequest)
		return
	}
	c, err := s.srv.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(int64(s.srv.opts.MaxPayload))
	s.mu.Lock()
	if s.state != stateOpen || s.ws != nil || s.probe != nil {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.probe = c
	s.mu.Unlock()
	go s.readProbe(c)
}

var errProbe = errors.New("engineio: unexpected packet on upgrade probe")

// readProbe runs the upgrade: "2probe" is answered "3probe" and held GETs
// get a noop so the client can pause polling; "5" moves the session to the
// websocket, which then flushes the queue and becomes the session's
// reader. Anything else, or no "5" within UpgradeTimeout, drops the probe
// and the session stays on polling.
func (s *Session) readProbe(c *websocket.Conn) {
	c.SetReadDeadline(time.Now().Add(s.srv.opts.UpgradeTimeout))
	for {
		mt, data, err := readMessage(c)
		var p Packet
		if err == nil {
			p, err = decodeFrame(int(s.proto), mt == websocket.BinaryMessage, data)
		}
		if err == nil {
			switch {
			case p.Type == PingPacket && string(p.Data) == "probe" && !p.Binary:
				if err = c.WriteMessage(websocket.TextMessage, []byte("3probe")); err == nil {
					s.mu.Lock()
					s.upgrading = s.probe == c
					s.changed.Broadcast()
					s.mu.Unlock()
					continue
				}
			case p.Type == UpgradePacket:
				c.SetReadDeadline(time.Time{})
				s.mu.Lock()
				if s.probe == c && s.upgrading && s.state != stateClosed {
					s.probe, s.upgrading, s.ws = nil, false, c
					s.kick()
					s.mu.Unlock()
					s.srv.log.Debug("engineio: session upgraded", "sid", s.id)
					s.readLoop(c)
					return
				}
				s.mu.Unlock()
				err = errProbe
			default:
				err = errProbe
			}
		}
		s.mu.Lock()
		if s.probe == c {
			s.probe, s.upgrading = nil, false
			s.changed.Broadcast()
		}
		s.mu.Unlock()
		c.Close()
		s.srv.log.Debug("engineio: upgrade probe dropped", "sid", s.id, "err", err)
		return
	}
}
