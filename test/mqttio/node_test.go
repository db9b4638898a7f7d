package mqttio

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/transport/engineio"
	"github.com/mqttio/mqttio/transport/httpmux"
)

// node is one broker wired as cmd/mqttio wires it: the HTTP mux on a
// loopback port, the broker serving the mux's listeners ("ws", "socketio",
// "engineio"), and a TCP listener.
type node struct {
	broker *broker.Server
	mux    *httpmux.Mux
	url    string // http://127.0.0.1:port, the HTTP listener
	host   string // 127.0.0.1:port of the HTTP listener
	tcp    string // 127.0.0.1:port of the MQTT TCP listener

	mu       sync.Mutex
	requests map[string]int // Engine.IO requests by kind (see countRequest)
}

// nodeOptions tune a node; zero fields keep the defaults of each package.
type nodeOptions struct {
	EngineIO engineio.Options
	Broker   broker.Options
	Quiet    bool // log nothing (benchmarks)
}

// startNode starts a node and stops it when the test ends. The broker's
// log is kept and printed if the test fails.
func startNode(t testing.TB, o nodeOptions) *node {
	t.Helper()
	logs := &syncBuffer{}
	level := slog.LevelInfo
	if o.Quiet {
		level = slog.LevelError
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	bo := o.Broker
	bo.NodeID = "test"
	bo.Logger = logger
	if bo.SysInterval == 0 {
		bo.SysInterval = -1
	}
	srv, err := broker.New(bo)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	mux := httpmux.New(httpmux.Options{EngineIO: o.EngineIO, Logger: logger})
	var serving sync.WaitGroup
	for name, l := range mux.Listeners() {
		serving.Go(func() { srv.Serve(l, name) })
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serving.Go(func() { srv.Serve(tl, "tcp") })
	n := &node{broker: srv, mux: mux, tcp: tl.Addr().String(), requests: make(map[string]int)}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.countRequest(r)
		mux.ServeHTTP(w, r)
	}))
	n.url, n.host = hs.URL, strings.TrimPrefix(hs.URL, "http://")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
		mux.Close()
		hs.Close()
		serving.Wait()
		if t.Failed() && !o.Quiet {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return n
}

// countRequest counts the Engine.IO requests by kind: "polling-handshake",
// "polling", "websocket-handshake" (a websocket-only session) and
// "websocket-upgrade" (a polling session moving to websocket).
func (n *node) countRequest(r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/socket.io/") && !strings.HasPrefix(r.URL.Path, "/engine.io/") {
		return
	}
	q := r.URL.Query()
	kind := q.Get("transport")
	switch {
	case q.Get("sid") == "":
		kind += "-handshake"
	case kind == "websocket":
		kind += "-upgrade"
	}
	n.mu.Lock()
	n.requests[kind]++
	n.mu.Unlock()
}

// requestCounts renders every count, for failure messages.
func (n *node) requestCounts() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprint(n.requests)
}

// requestCount is the number of Engine.IO requests of a kind so far.
func (n *node) requestCount(kind string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.requests[kind]
}

// syncBuffer is a bytes.Buffer safe for the broker's concurrent logging.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
