// Package broker is the MQTT core of mqttio: connections, sessions, QoS
// flows, retained messages, wills and $SYS. It imports only the standard
// library and its own sub-packages; persistence and clustering reach it
// through the store.Store and Cluster interfaces it declares.
//
// Concurrency, in lock order (a goroutine holding one may take the ones
// below it, never above):
//
//	Server.mu    sessions and clients registry
//	session.mu   subscriptions, inflight, queue, packet ids, owning client
//	client.wmu   outbound buffer and flusher state, outbound topic aliases
//
// Each connection has one reader goroutine that decodes and handles its
// packets. Outbound bytes are appended to the client's buffer by whichever
// goroutine produces them and written by a short-lived flusher goroutine
// that exits when the buffer is empty, so an idle connection holds one
// goroutine and no buffers.
package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttio/mqttio/broker/netpoll"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/topic"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("mqttio: server closed")

// Server is one broker node's MQTT core.
type Server struct {
	opts  Options
	log   *slog.Logger
	start time.Time

	subs     *topic.Trie[*session]
	retained *topic.Retained[*Message]
	timers   *sweeper
	stats    stats
	poller   *netpoll.Poller // nil: a reader goroutine per connection
	flaps    *flapGuard

	mu        sync.Mutex
	sessions  map[string]*session
	clients   map[*client]struct{}
	listeners map[net.Listener]struct{}
	closing   bool

	conns    sync.WaitGroup // ServeConn calls in flight
	bg       sync.WaitGroup // background goroutines (sweeper, $SYS)
	stop     chan struct{}
	assigned atomic.Uint64 // counter for assigned client identifiers
}

// New creates a server and restores persisted sessions and retained
// messages from opts.Store.
func New(opts Options) (*Server, error) {
	opts = opts.withDefaults()
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		start:     time.Now(),
		subs:      topic.NewTrie[*session](),
		retained:  topic.NewRetained[*Message](),
		sessions:  make(map[string]*session),
		clients:   make(map[*client]struct{}),
		listeners: make(map[net.Listener]struct{}),
		stop:      make(chan struct{}),
	}
	s.timers = newSweeper(s)
	s.flaps = newFlapGuard(&opts, time.Now().UnixNano())
	if !opts.DisableNetpoll {
		// Plain TCP connections wait for data without a goroutine. Workers
		// may block briefly (store backpressure), so there are several per
		// core.
		if p, err := netpoll.New(max(8, 4*runtime.GOMAXPROCS(0)), busyReadSize); err == nil {
			s.poller = p
		}
	}
	if err := s.restore(); err != nil {
		return nil, err
	}
	s.bg.Add(1)
	go func() { defer s.bg.Done(); s.timers.run(s.stop) }()
	if opts.SysInterval > 0 {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); s.sysLoop(s.stop) }()
	}
	return s, nil
}

// Serve accepts connections from l until l fails or Shutdown is called, and
// serves each one. transport names the listener in logs, metrics and
// ClientInfo ("tcp", "tls", "ws", "socketio").
func (s *Server) Serve(l net.Listener, transport string) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors or similar: back off instead of
				// spinning, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "transport", transport, "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			s.serveConn(conn, transport)
		}()
	}
}

// ServeConn serves one connection and returns when it is closed.
func (s *Server) ServeConn(c net.Conn, transport string) {
	s.conns.Add(1)
	defer s.conns.Done()
	s.serveConn(c, transport)
}

func (s *Server) serveConn(conn net.Conn, transport string) {
	if s.isClosing() {
		conn.Close()
		return
	}
	c := newClient(s, conn, transport)
	if !s.addClient(c) {
		// Over MaxConnections: we have not read CONNECT, so we cannot
		// answer in the client's version; closing is all we can do.
		s.stats.refused.Add(1)
		conn.Close()
		return
	}
	if s.poller != nil && c.startPolled() {
		return
	}
	c.serve()
}

func (s *Server) addClient(c *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || (s.opts.MaxConnections > 0 && len(s.clients) >= s.opts.MaxConnections) {
		return false
	}
	s.clients[c] = struct{}{}
	s.stats.connections.Add(1)
	s.timers.watch(c)
	return true
}

func (s *Server) removeClient(c *client) {
	s.timers.unwatch(c)
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
	s.stats.connections.Add(-1)
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops the listeners passed to Serve, sends DISCONNECT (0x8B
// Server shutting down on v5) to every client, closes the connections and
// waits for pending store commits, or until ctx is done. It does not close
// the Store: its owner does.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()

	for _, c := range clients {
		c.disconnect(packet.ServerShuttingDown)
	}
	close(s.stop)

	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		s.bg.Wait()
		if s.poller != nil {
			s.poller.Close()
		}
		s.persistSync()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// persistSync waits until everything handed to the store so far is durable.
func (s *Server) persistSync() {
	if s.opts.Store == nil {
		return
	}
	ch := make(chan struct{})
	s.opts.Store.Commit(nil, func(error) { close(ch) })
	<-ch
}

// lookupSession returns the session of clientID, or nil.
func (s *Server) lookupSession(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}
