// Package ws serves MQTT over WebSocket (MQTT 3.1.1 section 6, MQTT 5
// section 6): binary frames carry the MQTT byte stream, packets may span
// frames and a frame may hold several; any other data frame closes the
// connection [MQTT-6.0.0-1]. The subprotocol "mqtt" is selected, and
// "mqttv3.1" accepted from MQTT 3.1 clients.
//
// It uses gorilla/websocket, tuned for idle connections: the read buffer is
// small (frames are streamed into the core's buffer, not assembled) and
// write buffers come from a pool, held only while a frame is written. A
// connection then costs its socket, a few hundred bytes of buffer and the
// core's read goroutine; a hand-written RFC 6455 codec would save little
// more and lose a well-fuzzed one.
package ws

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/transport"
)

// Options configures a Server. Zero fields take defaults.
type Options struct {
	CORS             transport.CORS // Origin policy of the upgrade
	HandshakeTimeout time.Duration  // default 10s
	ReadBufferSize   int            // default 512
	WriteBufferSize  int            // pooled; default 4096
	Logger           *slog.Logger
}

// Server is the /mqtt endpoint, an http.Handler.
type Server struct {
	up  websocket.Upgrader
	ln  *transport.Listener
	log *slog.Logger
}

// deliverTimeout bounds how long an upgraded connection waits for the core
// to Accept it.
const deliverTimeout = 10 * time.Second

// NewServer returns the endpoint; its conns come out of Listener.
func NewServer(opts Options) *Server {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.ReadBufferSize <= 0 {
		opts.ReadBufferSize = 512
	}
	if opts.WriteBufferSize <= 0 {
		opts.WriteBufferSize = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cors := opts.CORS
	return &Server{
		up: websocket.Upgrader{
			HandshakeTimeout: opts.HandshakeTimeout,
			ReadBufferSize:   opts.ReadBufferSize,
			WriteBufferSize:  opts.WriteBufferSize,
			WriteBufferPool:  &sync.Pool{},
			Subprotocols:     []string{"mqtt", "mqttv3.1"},
			CheckOrigin:      func(r *http.Request) bool { return cors.Allowed(r.Header.Get("Origin"), r.Host) },
		},
		ln:  transport.NewListener(transport.Addr{Net: "ws", Str: "ws"}, 128),
		log: opts.Logger,
	}
}

// Listener yields one net.Conn per websocket connection.
func (s *Server) Listener() net.Listener { return s.ln }

// Close closes the listener; accepted conns belong to the core.
func (s *Server) Close() error { return s.ln.Close() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil) // on failure it has answered the request
	if err != nil {
		s.log.Debug("ws: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	wc := &Conn{ws: c, local: transport.LocalAddr(r, c.LocalAddr()), remote: transport.RemoteAddr(r)}
	if err := s.ln.Deliver(wc, deliverTimeout); err != nil {
		c.Close()
	}
}

// Conn is one MQTT-over-WebSocket connection. Read and Write may run
// concurrently with each other, as on a TCP conn.
type Conn struct {
	ws            *websocket.Conn
	local, remote net.Addr

	r   io.Reader // the frame being read
	wmu sync.Mutex
}

// Read reads the concatenated payloads of binary frames.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				// [MQTT-6.0.0-1] MQTT data travels in binary frames only.
				c.ws.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "binary frames only"),
					time.Now().Add(time.Second))
				c.ws.Close()
				return 0, errTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

var errTextFrame = errors.New("ws: text frame on an MQTT connection")

// Write sends p as one binary frame.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a normal close frame and closes the socket.
func (c *Conn) Close() error {
	c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return c.ws.Close()
}

// Subprotocol is the negotiated subprotocol ("mqtt", "mqttv3.1" or "").
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

func (c *Conn) LocalAddr() net.Addr                { return c.local }
func (c *Conn) RemoteAddr() net.Addr               { return c.remote }
func (c *Conn) SetDeadline(t time.Time) error      { return c.ws.NetConn().SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
