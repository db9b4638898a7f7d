package httpmux

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttio/mqttio/transport/engineio"
)

// The cost of idle sessions, measured on the server with raw TCP clients
// (each costs the test a socket and nothing else). The core's own
// per-connection cost (its read goroutine) is not included: the conns are
// accepted and held, not read.
//
//	go test -run '^$' -bench IdleSessions -benchtime 1x ./transport/httpmux/

type idleKind struct {
	name string
	open func(t testing.TB, addr string) net.Conn
}

var idleKinds = []idleKind{
	{"socketio-polling", openPolling},
	// The same session without its held GET (the client's socket closed):
	// what the session itself costs, net/http's request aside.
	{"socketio-polling-state", func(t testing.TB, addr string) net.Conn {
		c := openPolling(t, addr)
		c.Close()
		return c
	}},
	{"socketio-websocket", func(t testing.TB, addr string) net.Conn {
		return openWS(t, addr, "/socket.io/?EIO=4&transport=websocket", "40/mqtt,")
	}},
	{"mqtt-websocket", func(t testing.TB, addr string) net.Conn { return openWS(t, addr, "/mqtt", "") }},
}

type idleCost struct{ bytes, goroutines float64 }

// measureIdle opens n sessions of one kind and returns the heap and stack
// bytes, and goroutines, each one adds.
func measureIdle(t testing.TB, kind idleKind, n int) idleCost {
	quiet := engineio.Options{PingInterval: time.Hour, PingTimeout: time.Hour}
	mux := New(Options{EngineIO: quiet})
	var mu sync.Mutex
	var held []net.Conn
	for _, l := range mux.Listeners() {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
	}
	ts := httptest.NewServer(mux)
	defer ts.Close()
	defer mux.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	clients := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	kind.open(t, addr) // warm up pools and lazily built state
	before, g0 := memUsed()
	for range n {
		clients = append(clients, kind.open(t, addr))
	}
	after, g1 := memUsed()
	mu.Lock()
	accepted := len(held)
	mu.Unlock()
	if accepted < n {
		t.Fatalf("%s: %d of %d conns accepted", kind.name, accepted, n)
	}
	return idleCost{float64(after-before) / float64(n), float64(g1-g0) / float64(n)}
}

func memUsed() (uint64, int) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse, runtime.NumGoroutine()
}

func BenchmarkIdleSessions(b *testing.B) {
	for _, kind := range idleKinds {
		b.Run(kind.name, func(b *testing.B) {
			c := measureIdle(b, kind, 2000)
			b.ReportMetric(c.bytes, "B/session")
			b.ReportMetric(c.goroutines, "goroutines/session")
		})
	}
}

// TestIdleSessionCost guards the scale design: an idle polling session
// holds no goroutine beyond the two net/http gives its held GET (handler
// and connection reader), a Socket.IO websocket one only its reader, and
// the sessions' own state stays small.
func TestIdleSessionCost(t *testing.T) {
	limits := map[string]idleCost{
		"socketio-polling":       {40 << 10, 2},
		"socketio-polling-state": {4 << 10, 0},
		"socketio-websocket":     {12 << 10, 1},
		"mqtt-websocket":         {4 << 10, 0},
	}
	for _, kind := range idleKinds {
		c := measureIdle(t, kind, 100)
		t.Logf("%s: %.0f B/session, %.2f goroutines/session", kind.name, c.bytes, c.goroutines)
		if max := limits[kind.name]; c.goroutines > max.goroutines+0.05 || c.bytes > max.bytes {
			t.Errorf("%s: %.0f B and %.2f goroutines per idle session; want at most %.0f and %.0f", kind.name, c.bytes, c.goroutines, max.bytes, max.goroutines)
		}
	}
}

// openPolling opens a Socket.IO session over polling, connects /mqtt, and
// leaves a GET held, as an idle browser does.
func openPolling(t testing.TB, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	const base = "/socket.io/?EIO=4&transport=polling"
	open := roundTrip(t, c, r, "GET", base, "")
	sid := string(open[bytes.Index(open, []byte(`"sid":"`))+7:])
	sid = sid[:strings.IndexByte(sid, '"')]
	url := base + "&sid=" + sid
	roundTrip(t, c, r, "POST", url, "40/mqtt,")
	roundTrip(t, c, r, "GET", url, "")
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", url) // held: never answered while idle
	return c
}

func roundTrip(t testing.TB, c net.Conn, r *bufio.Reader, method, url, body string) []byte {
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", method, url, len(body), body)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return b
}

// openWS upgrades a raw TCP conn, reads the first frame the server sends
// (if any is expected), and sends first as a masked text frame.
func openWS(t testing.TB, addr, path, first string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", path)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade %s: %v", path, err)
	}
	if first == "" {
		return c
	}
	readFrame(t, r)                                            // the open packet
	frame := []byte{0x81, 0x80 | byte(len(first)), 0, 0, 0, 0} // a zero mask keeps the payload as is
	c.Write(append(frame, first...))
	if f := readFrame(t, r); !strings.HasPrefix(f, "40/mqtt,") {
		t.Fatalf("connect reply %q", f)
	}
	return c
}

func readFrame(t testing.TB, r *bufio.Reader) string {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		io.ReadFull(r, l[:])
		n = int(l[0])<<8 | int(l[1])
	}
	p := make([]byte, n)
	io.ReadFull(r, p)
	return string(p)
}
