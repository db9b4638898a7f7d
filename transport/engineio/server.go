// Package engineio is an Engine.IO server, protocol v4 and (for
// socket.io-client 1.x/2.x) v3: HTTP long-polling, WebSocket, and the
// polling-to-WebSocket upgrade, with the heartbeat of each version.
//
// It carries messages, not meaning: an AcceptFunc gives each new session a
// Receiver for its inbound messages, and the upper layer (socketio, or the
// plain byte stream of stream.go) sends with Session.Send.
//
// Scale: one sweeper goroutine per Server runs every session's heartbeat and
// timeouts. An idle polling session holds no goroutine of its own (only its
// held GET request does); a websocket session holds one reader goroutine. A
// writer goroutine exists only while a websocket session has packets queued.
// Both directions are bounded: MaxBuffered outbound bytes per session (Send
// blocks beyond), MaxPayload per body or frame, and the Receiver applies
// backpressure by blocking, which stalls the POST or the websocket read.
//
// Lock order: Session.recvMu, then Session.mu, then Server.mu.
package engineio

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/transport"
)

// Options configures a Server. Zero fields take the defaults in
// DefaultOptions.
type Options struct {
	PingInterval   time.Duration // v4: the server pings this often; v3: the client is told to
	PingTimeout    time.Duration // v4: a ping unanswered this long drops the session; v3: added to PingInterval
	UpgradeTimeout time.Duration // a websocket probe must send "5" within this
	WriteTimeout   time.Duration // a websocket write stalled this long drops the session
	MaxPayload     int           // largest polling body or websocket message accepted, bytes
	MaxBuffered    int           // outbound bytes queued per session before Send blocks
	AllowEIO3      bool          // also serve Engine.IO v3 (socket.io-client 1.x/2.x)
	CORS           transport.CORS
	// SIDPrefix, when set, starts every session id, as "<prefix>.<random>",
	// so a cluster can route a polling request to the node that owns its
	// session (see SIDPrefixOf). It must be URL-safe and contain no '.'.
	SIDPrefix string
	// OnUnknownSID, when set, may handle a request whose sid is not ours
	// (e.g. proxy it to the node named by SIDPrefixOf); it returns false to
	// let the server answer 400 "Session ID unknown".
	OnUnknownSID func(w http.ResponseWriter, r *http.Request, sid string) bool
	// Websocket buffer sizes: small read buffers keep idle sessions cheap;
	// write buffers come from a pool and are held only while writing.
	ReadBufferSize  int
	WriteBufferSize int
	Logger          *slog.Logger
}

// DefaultOptions are the Engine.IO reference server's values.
var DefaultOptions = Options{
	PingInterval:    25 * time.Second,
	PingTimeout:     20 * time.Second,
	UpgradeTimeout:  10 * time.Second,
	WriteTimeout:    10 * time.Second,
	MaxPayload:      1_000_000,
	MaxBuffered:     1 << 20,
	ReadBufferSize:  512,
	WriteBufferSize: 4096,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&o.PingInterval, d.PingInterval)
	set(&o.PingTimeout, d.PingTimeout)
	set(&o.UpgradeTimeout, d.UpgradeTimeout)
	set(&o.WriteTimeout, d.WriteTimeout)
	if o.MaxPayload <= 0 {
		o.MaxPayload = d.MaxPayload
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = d.MaxBuffered
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = d.ReadBufferSize
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = d.WriteBufferSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Receiver consumes one session's inbound messages.
type Receiver interface {
	// Receive is called for each inbound message, in order and never
	// concurrently; the receiver owns data. Blocking applies backpressure:
	// the session reads nothing more meanwhile. An error closes the session
	// gracefully (what the receiver queued is still sent).
	Receive(data []byte, binary bool) error
	// Closed is called once when the session has ended. It may run while
	// Receive is blocked, and must unblock it.
	Closed(err error)
}

// AcceptFunc gives a new session its Receiver. It runs before the open
// packet is sent; whatever it Sends follows the open packet. An error
// refuses the handshake (403).
type AcceptFunc func(s *Session) (Receiver, error)

// Errors that end sessions, as passed to Receiver.Closed.
var (
	ErrServerClosed = errors.New("engineio: server closed")
	ErrPingTimeout  = errors.New("engineio: ping timeout")
	ErrCloseTimeout = errors.New("engineio: close timeout")
	ErrOverlap      = errors.New("engineio: overlapping polling requests")
	ErrTooLarge     = errors.New("engineio: payload too large")
	ErrHeartbeat    = errors.New("engineio: heartbeat in the wrong direction")
	ErrClosed       = errors.New("engineio: session closed")
)

// Engine.IO error codes, answered as HTTP 400 (403 for codeForbidden) with
// a JSON body {"code":n,"message":...}.
const (
	codeUnknownTransport = iota
	codeUnknownSID
	codeBadHandshakeMethod
	codeBadRequest
	codeForbidden
	codeUnsupportedVersion
)

var codeMessages = [...]string{
	"Transport unknown",
	"Session ID unknown",
	"Bad handshake method",
	"Bad request",
	"Forbidden",
	"Unsupported protocol version",
}

// Server is an Engine.IO endpoint: an http.Handler for one path.
type Server struct {
	opts     Options
	accept   AcceptFunc
	log      *slog.Logger
	upgrader websocket.Upgrader
	epoch    time.Time // session clocks are durations since epoch (monotonic)
	tick     time.Duration

	mu       sync.RWMutex
	sessions map[string]*Session
	closed   bool

	stop chan struct{}
	done chan struct{}
}

// NewServer starts a server (and its sweeper goroutine; Close stops it).
func NewServer(opts Options, accept AcceptFunc) *Server {
	opts = opts.withDefaults()
	srv := &Server{
		opts:     opts,
		accept:   accept,
		log:      opts.Logger,
		epoch:    time.Now(),
		sessions: make(map[string]*Session),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	srv.upgrader = websocket.Upgrader{
		ReadBufferSize:  opts.ReadBufferSize,
		WriteBufferSize: opts.WriteBufferSize,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(r *http.Request) bool { return opts.CORS.Allowed(r.Header.Get("Origin"), r.Host) },
		Error:           func(w http.ResponseWriter, r *http.Request, status int, reason error) { writeError(w, codeBadRequest) },
	}
	// The sweeper's resolution: a quarter of the shortest heartbeat period,
	// between 5ms (tests) and 1s.
	srv.tick = min(max(min(opts.PingInterval, opts.PingTimeout)/4, 5*time.Millisecond), time.Second)
	go srv.sweep()
	return srv
}

func (srv *Server) now() time.Duration { return time.Since(srv.epoch) }

// Len is the number of live sessions.
func (srv *Server) Len() int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return len(srv.sessions)
}

// Close ends every session and stops the sweeper.
func (srv *Server) Close() error {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		return nil
	}
	srv.closed = true
	all := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.Unlock()
	close(srv.stop)
	<-srv.done
	for _, s := range all {
		s.finish(ErrServerClosed)
	}
	return nil
}

// SIDPrefixOf returns the SIDPrefix a session id was made with, or "".
func SIDPrefixOf(sid string) string {
	if i := strings.IndexByte(sid, '.'); i > 0 {
		return sid[:i]
	}
	return ""
}

// RandomID returns a random URL-safe id of 20 characters (120 bits).
func RandomID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (srv *Server) newSID() string {
	if srv.opts.SIDPrefix != "" {
		return srv.opts.SIDPrefix + "." + RandomID()
	}
	return RandomID()
}

func writeError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == codeForbidden {
		status = http.StatusForbidden
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"code":%d,"message":"%s"}`, code, codeMessages[code])
}

// ServeHTTP routes a request by its query: EIO (protocol version),
// transport, and sid (absent on the handshake).
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if srv.opts.CORS.Apply(w, r) {
		return
	}
	q := r.URL.Query()
	proto := 0
	switch q.Get("EIO") {
	case "4":
		proto = 4
	case "3":
		if srv.opts.AllowEIO3 {
			proto = 3
		}
	}
	if proto == 0 {
		writeError(w, codeUnsupportedVersion)
		return
	}
	ws := false
	switch q.Get("transport") {
	case "polling":
		if q.Has("j") { // JSONP polling (v3, pre-CORS browsers) is not served
			writeError(w, codeBadRequest)
			return
		}
	case "websocket":
		ws = true
		if !websocket.IsWebSocketUpgrade(r) {
			writeError(w, codeBadRequest)
			return
		}
	default:
		writeError(w, codeUnknownTransport)
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			writeError(w, codeBadHandshakeMethod)
			return
		}
		srv.handshake(w, r, proto, ws)
		return
	}
	srv.mu.RLock()
	s := srv.sessions[sid]
	srv.mu.RUnlock()
	if s == nil {
		if srv.opts.OnUnknownSID == nil || !srv.opts.OnUnknownSID(w, r, sid) {
			writeError(w, codeUnknownSID)
		}
		return
	}
	if int(s.proto) != proto {
		writeError(w, codeBadRequest)
		return
	}
	switch {
	case ws:
		s.probeUpgrade(w, r)
	case r.Method == http.MethodGet:
		s.poll(w, r, q.Has("b64"))
	case r.Method == http.MethodPost:
		s.post(w, r)
	default:
		writeError(w, codeBadRequest)
	}
}

func (srv *Server) openPacket(sid string, proto int, ws bool) Packet {
	upgrades := `["websocket"]`
	if ws {
		upgrades = `[]`
	}
	b := fmt.Appendf(nil, `{"sid":"%s","upgrades":%s,"pingInterval":%d,"pingTimeout":%d`,
		sid, upgrades, srv.opts.PingInterval.Milliseconds(), srv.opts.PingTimeout.Milliseconds())
	if proto >= 4 {
		b = append(b, `,"maxPayload":`...)
		b = strconv.AppendInt(b, int64(srv.opts.MaxPayload), 10)
	}
	return Packet{Type: OpenPacket, Data: append(b, '}')}
}

// handshake opens a session: over polling the GET is answered with the open
// packet (and what the AcceptFunc queued); over websocket the connection is
// upgraded and the open packet is its first frame.
func (srv *Server) handshake(w http.ResponseWriter, r *http.Request, proto int, ws bool) {
	now := srv.now()
	s := &Session{
		id:       srv.newSID(),
		srv:      srv,
		proto:    uint8(proto),
		remote:   transport.RemoteAddr(r),
		local:    transport.LocalAddr(r, transport.Addr{Net: "engineio", Str: r.Host}),
		lastSeen: now,
		nextPing: now + srv.opts.PingInterval,
	}
	open := srv.openPacket(s.id, proto, ws)
	s.queue, s.queued = []Packet{open}, len(open.Data)
	rcv, err := srv.accept(s)
	if err != nil {
		srv.log.Debug("engineio: handshake refused", "remote", r.RemoteAddr, "err", err)
		writeError(w, codeForbidden)
		return
	}
	s.rcv = rcv
	var c *websocket.Conn
	if ws {
		if c, err = srv.upgrader.Upgrade(w, r, nil); err != nil {
			s.finish(err)
			return
		}
		c.SetReadLimit(int64(srv.opts.MaxPayload))
		s.ws = c
	}
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		if c == nil {
			writeError(w, codeForbidden)
		}
		s.finish(ErrServerClosed)
		return
	}
	srv.sessions[s.id] = s
	srv.mu.Unlock()
	srv.log.Debug("engineio: session open", "sid", s.id, "eio", proto, "ws", ws, "remote", r.RemoteAddr)
	if c == nil {
		s.poll(w, r, r.URL.Query().Has("b64"))
		return
	}
	s.mu.Lock()
	s.kick()
	s.mu.Unlock()
	go s.readLoop(c)
}

func (srv *Server) remove(s *Session) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	srv.mu.Unlock()
}

// sweep runs the heartbeats and timeouts of every session: one goroutine
// and one ticker per server, not per session.
func (srv *Server) sweep() {
	defer close(srv.done)
	t := time.NewTicker(srv.tick)
	defer t.Stop()
	var batch []*Session
	for {
		select {
		case <-srv.stop:
			return
		case <-t.C:
		}
		srv.mu.RLock()
		for _, s := range srv.sessions {
			batch = append(batch, s)
		}
		srv.mu.RUnlock()
		now := srv.now()
		for i, s := range batch {
			s.check(now)
			batch[i] = nil
		}
		batch = batch[:0]
	}
}

// Sessions returns a snapshot of the live sessions (for tests and metrics).
func (srv *Server) Sessions() []*Session {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	all := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	return all
}
