package broker

import (
	"context"
	"errors"
	"net"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("mqttio: server closed")

// Server is one broker node's MQTT core.
type Server struct {
	opts Options
}

// New creates a server and restores persisted sessions and retained
// messages from opts.Store.
func New(opts Options) (*Server, error) {
	return &Server{opts: opts}, nil
}

// Serve accepts connections from l until l fails or Shutdown is called, and
// serves each one. transport names the listener in logs, metrics and
// ClientInfo ("tcp", "tls", "ws", "socketio").
func (s *Server) Serve(l net.Listener, transport string) error {
	return errors.New("unimplemented")
}

// ServeConn serves one connection and returns when it is closed.
func (s *Server) ServeConn(c net.Conn, transport string) {}

// Shutdown stops the listeners passed to Serve, sends DISCONNECT (0x8B
// Server shutting down on v5) to every client, closes the connections and
// waits for pending store commits, or until ctx is done. It does not close
// the Store: its owner does.
func (s *Server) Shutdown(ctx context.Context) error { return nil }
