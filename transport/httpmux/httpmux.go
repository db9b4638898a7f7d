// Package httpmux assembles the HTTP transports on one listener:
//
//	/mqtt        MQTT over WebSocket                 (listener "ws")
//	/socket.io/  MQTT.IO: Socket.IO v5/rev 4, EIO 4/3 (listener "socketio")
//	/engine.io/  plain Engine.IO v4 byte streams      (listener "engineio")
//	/            the browser client page
//
// The caller owns the HTTP server (address, TLS) and the broker: it serves
// Mux with an http.Server (NewHTTPServer has suitable timeouts) and passes
// each of Listeners to the core's Serve with its name.
package httpmux

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mqttio/mqttio/transport"
	"github.com/mqttio/mqttio/transport/engineio"
	"github.com/mqttio/mqttio/transport/socketio"
	"github.com/mqttio/mqttio/transport/web"
	"github.com/mqttio/mqttio/transport/ws"
)

// Options configures every endpoint. Zero fields take each package's
// defaults.
type Options struct {
	CORS          transport.CORS   // for all endpoints (overrides EngineIO.CORS and WS.CORS)
	EngineIO      engineio.Options // /socket.io/ and /engine.io/: heartbeat, limits, SIDPrefix
	InboundBuffer int              // per-session inbound bytes of /socket.io/ and /engine.io/
	WS            ws.Options
	NoPage        bool // do not serve the browser page at /
	Logger        *slog.Logger
}

// Mux is the HTTP handler of all endpoints.
type Mux struct {
	WS       *ws.Server
	SocketIO *socketio.Server
	EngineIO *engineio.Stream
	mux      *http.ServeMux
}

// New builds the endpoints (the Engine.IO ones start their sweepers).
func New(opts Options) *Mux {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	eo := opts.EngineIO
	eo.CORS, eo.Logger = opts.CORS, opts.Logger
	wo := opts.WS
	wo.CORS, wo.Logger = opts.CORS, opts.Logger
	m := &Mux{
		WS:       ws.NewServer(wo),
		SocketIO: socketio.NewServer(socketio.Options{EngineIO: eo, InboundBuffer: opts.InboundBuffer}),
		EngineIO: engineio.NewStream(eo, opts.InboundBuffer),
		mux:      http.NewServeMux(),
	}
	m.mux.Handle("/mqtt", m.WS)
	m.mux.Handle("/socket.io/", m.SocketIO)
	m.mux.Handle("/engine.io/", m.EngineIO)
	if !opts.NoPage {
		m.mux.Handle("/", web.Handler())
	}
	return m
}

func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

// Listeners maps each transport name the core logs ("ws", "socketio",
// "engineio") to the listener of its conns.
func (m *Mux) Listeners() map[string]net.Listener {
	return map[string]net.Listener{
		"ws":       m.WS.Listener(),
		"socketio": m.SocketIO.Listener(),
		"engineio": m.EngineIO.Listener(),
	}
}

// Close closes the listeners and every Engine.IO session. WebSocket conns
// already accepted belong to the core, which closes them on Shutdown.
func (m *Mux) Close() error {
	m.WS.Close()
	m.SocketIO.Close()
	return m.EngineIO.Close()
}

// NewHTTPServer returns an http.Server for h with timeouts that suit long
// polling: no WriteTimeout (a GET is held up to a ping interval), a bounded
// header read, and idle keep-alive connections dropped after two minutes.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}
