package broker

import (
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// discardConn is a connection whose writes vanish: the subscriber end of
// the allocation guard.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// connectForTest connects a client through handleBytes, as the read loop
// would.
func connectForTest(t testing.TB, srv *Server, id string, v packet.Version) *client {
	t.Helper()
	c := newClient(srv, discardConn{}, "test")
	b := packet.AppendConnect(nil, &packet.Connect{Version: v, ClientID: []byte(id), CleanStart: true})
	if _, err := c.handleBytes(b); err != nil {
		t.Fatal(err)
	}
	if !c.connected.Load() {
		t.Fatal("not connected")
	}
	return c
}

// waitFlushed waits until c's flusher goroutine has written everything and
// exited (without allocating: this runs inside AllocsPerRun).
func waitFlushed(c *client) {
	for {
		c.wmu.Lock()
		idle := !c.flushing
		c.wmu.Unlock()
		if idle {
			return
		}
		runtime.Gosched()
	}
}

// TestAllocsRouteQoS0 guards the zero-allocation publish path (issue 2,
// Performance): a QoS 0 PUBLISH decoded from the publisher's read buffer,
// routed to an existing subscriber and encoded into its outbound buffer.
func TestAllocsRouteQoS0(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		srv, err := New(Options{Logger: slog.New(slog.DiscardHandler), SysInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		sub := connectForTest(t, srv, "sub", v)
		sb := packet.AppendSubscribe(nil, v, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("a/+/c")}}})
		if _, err := sub.handleBytes(sb); err != nil {
			t.Fatal(err)
		}
		pub := connectForTest(t, srv, "pub", v)
		msg := packet.AppendPublish(nil, v, &packet.Publish{Topic: []byte("a/b/c"), Payload: make([]byte, 64)})
		publish := func() {
			if n, err := pub.handleBytes(msg); err != nil || n != len(msg) {
				t.Fatalf("handleBytes: %d, %v", n, err)
			}
		}
		waitFlushed(sub)
		before := srv.stats.msgsOut.Load()
		for range 10 {
			publish()
			waitFlushed(sub)
		}
		if got := srv.stats.msgsOut.Load() - before; got != 10 {
			t.Fatalf("v%d: %d messages delivered, want 10", v, got)
		}

		// The routing path proper: the subscriber's flusher is busy (as
		// under load), so the message is only appended to its buffer.
		sub.wmu.Lock()
		sub.flushing = true
		sub.wmu.Unlock()
		routed := testing.AllocsPerRun(1000, func() {
			publish()
			sub.wmu.Lock()
			*sub.out = (*sub.out)[:0] // what the flusher takes
			sub.wmu.Unlock()
		})
		sub.wmu.Lock()
		sub.flushing = false
		sub.wmu.Unlock()

		// The whole path, when every message finds the subscriber idle and
		// starts its flusher goroutine.
		idle := testing.AllocsPerRun(1000, func() {
			publish()
			waitFlushed(sub)
		})
		t.Logf("v%d: %.2f allocs per QoS 0 publish routed to a busy subscriber, %.2f to an idle one (flusher start)", v, routed, idle)
		if routed > maxRouteAllocs {
			t.Errorf("v%d: %.2f allocations per routed QoS 0 publish, want %v", v, routed, maxRouteAllocs)
		}
		if idle > maxRouteAllocs {
			t.Errorf("v%d: %.2f allocations per QoS 0 publish to an idle subscriber, want %v", v, idle, maxRouteAllocs)
		}
		srv.Shutdown(t.Context())
	}
}
