package engineio

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/transport"
	"github.com/mqttio/mqttio/transport/internal/eiotest"
)

// echo sends every message back as it came.
type echo struct{ s *Session }

func (e *echo) Receive(data []byte, binary bool) error {
	return e.s.Send(nil, Message{Data: data, Binary: binary})
}
func (e *echo) Closed(error) {}

// quiet options: heartbeats far away, so they do not show in transcripts.
func quiet() Options {
	return Options{PingInterval: time.Minute, PingTimeout: time.Minute, AllowEIO3: true}
}

// serve starts srv on 127.0.0.1 and returns the base URL with "?EIO=".
func serve(t *testing.T, srv http.Handler, closer io.Closer) string {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		closer.Close()
		ts.Close()
	})
	return ts.URL + "/engine.io/?EIO="
}

func echoServer(t *testing.T, opts Options) (*Server, string) {
	srv := NewServer(opts, func(s *Session) (Receiver, error) { return &echo{s}, nil })
	return srv, serve(t, srv, srv)
}

var openV4 = regexp.MustCompile(`^0\{"sid":"[A-Za-z0-9_-]{20}","upgrades":\["websocket"\],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000\}$`)

func TestHandshakeV4(t *testing.T) {
	_, base := echoServer(t, Options{})
	r := eiotest.Get(t, base+"4&transport=polling&t=a1")
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/plain; charset=UTF-8" || !openV4.Match(r.Body) {
		t.Fatalf("handshake: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
}

func TestHandshakeV3(t *testing.T) {
	_, base := echoServer(t, quiet())
	r := eiotest.Get(t, base+"3&transport=polling")
	want := regexp.MustCompile(`^(\d+):0\{"sid":"[A-Za-z0-9_-]{20}","upgrades":\["websocket"\],"pingInterval":60000,"pingTimeout":60000\}$`)
	m := want.FindSubmatch(r.Body)
	if r.Status != 200 || m == nil || string(m[1]) != strconv.Itoa(len(r.Body)-len(m[1])-1) {
		t.Fatalf("handshake: %d %q", r.Status, r.Body)
	}
}

func TestErrors(t *testing.T) {
	srv, base := echoServer(t, Options{MaxPayload: 100})
	sid, _ := eiotest.Handshake(t, base+"4")
	for _, tc := range []struct {
		method, query string
		status        int
		body          string
	}{
		{"GET", "5&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", "3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`}, // v3 not allowed here
		{"GET", "&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", "4&transport=flash", 400, `{"code":0,"message":"Transport unknown"}`},
		{"GET", "4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST", "4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"GET", "4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`}, // no Upgrade header
		{"PUT", "4&transport=polling&sid=" + sid, 400, `{"code":3,"message":"Bad request"}`},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(body) != tc.body || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %s %q; want %d %s", tc.method, tc.query, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status, tc.body)
		}
	}
	// A body over MaxPayload: 413, and the session is closed.
	if r := eiotest.Post(t, base+"4&transport=polling&sid="+sid, "text/plain", bytes.Repeat([]byte("4"), 101)); r.Status != 413 {
		t.Fatalf("oversize POST: %d", r.Status)
	}
	if srv.Len() != 0 {
		t.Fatalf("session survived an oversize POST")
	}
}

func TestPollingEchoV4(t *testing.T) {
	_, base := echoServer(t, quiet())
	sid, _ := eiotest.Handshake(t, base+"4")
	url := base + "4&transport=polling&sid=" + sid
	eiotest.PostOK(t, url, "4hello\x1ebAQID")
	if r := eiotest.Get(t, url); string(r.Body) != "4hello\x1ebAQID" {
		t.Fatalf("GET = %q", r.Body)
	}
	// A client close packet ends the session.
	eiotest.PostOK(t, url, "1")
	if r := eiotest.Get(t, url); r.Status != 400 {
		t.Fatalf("GET after close: %d %q", r.Status, r.Body)
	}
}

func TestV3PollingForms(t *testing.T) {
	_, base := echoServer(t, quiet())
	sid, _ := eiotest.Handshake(t, base+"3")
	url := base + "3&transport=polling&sid=" + sid
	// Text payload, with UTF-16 lengths.
	eiotest.PostOK(t, url, "4:4é😀")
	if r := eiotest.Get(t, url); string(r.Body) != "4:4é😀" || r.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Fatalf("GET = %q", r.Body)
	}
	// XHR2 binary payload in, binary payload out.
	in := []byte{0, 6, 0xff, '4', 'h', 'e', 'l', 'l', 'o', 1, 4, 0xff, 4, 1, 2, 3}
	if r := eiotest.Post(t, url, "application/octet-stream", in); string(r.Body) != "ok" {
		t.Fatalf("POST: %d %q", r.Status, r.Body)
	}
	if r := eiotest.Get(t, url); !bytes.Equal(r.Body, in) || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET = % x (%s)", r.Body, r.Header.Get("Content-Type"))
	}
	// b64=1: binary as "b4<base64>" in a text payload, both ways.
	eiotest.PostOK(t, url+"&b64=1", "6:b4AQID")
	if r := eiotest.Get(t, url+"&b64=1"); string(r.Body) != "6:b4AQID" {
		t.Fatalf("GET b64 = %q", r.Body)
	}
}

// A second GET while one is held closes the session [socketio.md]; the held
// one is answered with a close packet.
func TestSecondGET(t *testing.T) {
	srv, base := echoServer(t, quiet())
	sid, _ := eiotest.Handshake(t, base+"4")
	url := base + "4&transport=polling&sid=" + sid
	first := make(chan eiotest.Response)
	go func() { first <- eiotest.Get(t, url) }()
	s := srv.Sessions()[0]
	eiotest.WaitFor(t, 5*time.Second, "the first GET to be held", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.getting
	})
	if r := eiotest.Get(t, url); r.Status != 400 || string(r.Body) != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("second GET: %d %q", r.Status, r.Body)
	}
	if r := <-first; string(r.Body) != "1" {
		t.Fatalf("held GET: %d %q", r.Status, r.Body)
	}
	if srv.Len() != 0 {
		t.Fatal("session survived")
	}
}

func TestHeartbeatV4Polling(t *testing.T) {
	srv, base := echoServer(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: 400 * time.Millisecond})
	sid, _ := eiotest.Handshake(t, base+"4")
	url := base + "4&transport=polling&sid=" + sid
	for range 3 {
		if r := eiotest.Get(t, url); string(r.Body) != "2" {
			t.Fatalf("GET = %q, want a ping", r.Body)
		}
		eiotest.PostOK(t, url, "3")
	}
	// A ping from the client is the wrong direction in v4.
	eiotest.Get(t, url)
	if r := eiotest.Post(t, url, "text/plain", []byte("2")); r.Status != 400 {
		t.Fatalf("client ping: %d %q", r.Status, r.Body)
	}
	// And silence after a ping drops the session.
	sid, _ = eiotest.Handshake(t, base+"4")
	eiotest.WaitFor(t, 5*time.Second, "the silent session to be dropped", func() bool { return srv.Len() == 0 })
	if r := eiotest.Get(t, base+"4&transport=polling&sid="+sid); r.Status != 400 {
		t.Fatalf("GET after timeout: %d %q", r.Status, r.Body)
	}
}

func TestHeartbeatV3(t *testing.T) {
	srv, base := echoServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond, AllowEIO3: true})
	sid, _ := eiotest.Handshake(t, base+"3")
	url := base + "3&transport=polling&sid=" + sid
	// The client pings, the server answers; the server never pings first.
	for range 3 {
		eiotest.PostOK(t, url, "1:2")
		if r := eiotest.Get(t, url); string(r.Body) != "1:3" {
			t.Fatalf("GET = %q, want a pong", r.Body)
		}
	}
	eiotest.WaitFor(t, 5*time.Second, "the silent v3 session to be dropped", func() bool { return srv.Len() == 0 })
}

func TestWebsocketV4(t *testing.T) {
	_, base := echoServer(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: time.Second})
	c := eiotest.Dial(t, base+"4&transport=websocket")
	f := eiotest.Read(t, c)
	if f.Binary || !strings.Contains(string(f.Data), `"upgrades":[]`) {
		t.Fatalf("open frame: %v", f)
	}
	eiotest.ParseOpen(t, f.Data)
	eiotest.Send(t, c, eiotest.Binary([]byte{1, 2, 3}))
	eiotest.Send(t, c, eiotest.Text("4hi"))
	// Pings may come in between: answer them and look at the rest.
	var got []eiotest.Frame
	for len(got) < 2 {
		f := eiotest.Read(t, c)
		if !f.Binary && string(f.Data) == "2" {
			eiotest.Send(t, c, eiotest.Text("3"))
			continue
		}
		got = append(got, f)
	}
	if got[0].String() != "[binary] 01 02 03" || got[1].String() != "4hi" {
		t.Fatalf("echo: %v", got)
	}
}

// Frames of every length encoding (7-bit, 16-bit, 64-bit), over the
// write-through path (echo sends from the reader) and chunked writes, in
// order, with heartbeat frames written in between by the sweeper.
func TestWebsocketFrameSizes(t *testing.T) {
	for _, proto := range []string{"3", "4"} {
		t.Run("EIO"+proto, func(t *testing.T) {
			opts := Options{PingInterval: 5 * time.Millisecond, PingTimeout: time.Second, AllowEIO3: true}
			_, base := echoServer(t, opts)
			c := eiotest.Dial(t, base+proto+"&transport=websocket")
			eiotest.ParseOpen(t, eiotest.Read(t, c).Data)
			var want []eiotest.Frame
			for i, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 40 << 10, 200 << 10, 3} {
				data := bytes.Repeat([]byte{byte('a' + i)}, n)
				text := eiotest.Text("4" + string(data))
				bin := eiotest.Binary(data)
				if proto == "3" {
					bin = eiotest.Binary(append([]byte{4}, data...))
				}
				if n == 0 && proto == "3" {
					continue
				}
				want = append(want, bin, text)
				eiotest.Send(t, c, bin)
				eiotest.Send(t, c, text)
			}
			for i := 0; i < len(want); {
				f := eiotest.Read(t, c)
				if !f.Binary && string(f.Data) == "2" {
					if proto == "4" {
						eiotest.Send(t, c, eiotest.Text("3"))
					}
					continue
				}
				if f.Binary != want[i].Binary || !bytes.Equal(f.Data, want[i].Data) {
					t.Fatalf("frame %d: got %d bytes (binary %v), want %d (binary %v)", i, len(f.Data), f.Binary, len(want[i].Data), want[i].Binary)
				}
				i++
			}
		})
	}
}

func TestWebsocketV3(t *testing.T) {
	_, base := echoServer(t, quiet())
	c := eiotest.Dial(t, base+"3&transport=websocket")
	eiotest.ParseOpen(t, eiotest.Read(t, c).Data)
	// EIO3 puts the packet type 04 before binary data.
	eiotest.Send(t, c, eiotest.Binary([]byte{4, 1, 2, 3}))
	eiotest.Expect(t, c, eiotest.Binary([]byte{4, 1, 2, 3}))
	eiotest.Send(t, c, eiotest.Text("2"))
	eiotest.Expect(t, c, eiotest.Text("3"))
}

func TestUpgrade(t *testing.T) {
	for _, eio := range []string{"4", "3"} {
		t.Run("EIO"+eio, func(t *testing.T) {
			srv, base := echoServer(t, quiet())
			sid, _ := eiotest.Handshake(t, base+eio)
			url := base + eio + "&transport=polling&sid=" + sid
			wrap := func(s string) string { // v4 polling has no length prefix
				if eio == "3" {
					return strconv.Itoa(len(s)) + ":" + s
				}
				return s
			}
			held := make(chan eiotest.Response)
			go func() { held <- eiotest.Get(t, url) }()
			s := srv.Sessions()[0]
			eiotest.WaitFor(t, 5*time.Second, "the GET to be held", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.getting
			})
			c := eiotest.Dial(t, base+eio+"&transport=websocket&sid="+sid)
			eiotest.Send(t, c, eiotest.Text("2probe"))
			eiotest.Expect(t, c, eiotest.Text("3probe"))
			if r := <-held; string(r.Body) != wrap("6") {
				t.Fatalf("held GET = %q, want a noop", r.Body)
			}
			// Data sent while upgrading waits, then flushes over the websocket.
			eiotest.PostOK(t, url, wrap("4queued"))
			eiotest.Send(t, c, eiotest.Text("5"))
			eiotest.Expect(t, c, eiotest.Text("4queued"))
			eiotest.Send(t, c, eiotest.Text("4after"))
			eiotest.Expect(t, c, eiotest.Text("4after"))
			if s.Transport() != "websocket" {
				t.Fatalf("transport = %s", s.Transport())
			}
			if r := eiotest.Get(t, url); r.Status != 400 {
				t.Fatalf("polling after the upgrade: %d %q", r.Status, r.Body)
			}
		})
	}
}

func TestUpgradeTimeout(t *testing.T) {
	srv, base := echoServer(t, Options{PingInterval: time.Minute, PingTimeout: time.Minute, UpgradeTimeout: 30 * time.Millisecond})
	sid, _ := eiotest.Handshake(t, base+"4")
	c := eiotest.Dial(t, base+"4&transport=websocket&sid="+sid)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("the silent probe was not closed")
	}
	url := base + "4&transport=polling&sid=" + sid
	eiotest.PostOK(t, url, "4still")
	if r := eiotest.Get(t, url); string(r.Body) != "4still" || srv.Sessions()[0].Transport() != "polling" {
		t.Fatalf("after a dropped probe: %q", r.Body)
	}
}

// blocker holds every Receive until released: the core not reading.
type blocker struct {
	release chan struct{}
	closed  chan struct{}
}

func (b *blocker) Receive([]byte, bool) error {
	select {
	case <-b.release:
	case <-b.closed:
	}
	return nil
}
func (b *blocker) Closed(error) { close(b.closed) }

func TestBackpressure(t *testing.T) {
	b := &blocker{release: make(chan struct{}), closed: make(chan struct{})}
	var sess *Session
	srv := NewServer(Options{PingInterval: 20 * time.Millisecond, PingTimeout: 20 * time.Millisecond, MaxBuffered: 10},
		func(s *Session) (Receiver, error) { sess = s; return b, nil })
	base := serve(t, srv, srv)
	sid, _ := eiotest.Handshake(t, base+"4")
	url := base + "4&transport=polling&sid=" + sid

	// Outbound: Send blocks past MaxBuffered, until its deadline.
	if err := sess.Send(nil, Message{Data: []byte("0123456789")}); err != nil {
		t.Fatal(err)
	}
	expired := make(chan struct{})
	close(expired)
	if err := sess.Send(expired, Message{Data: []byte("x")}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send on a full queue = %v", err)
	}
	eiotest.Get(t, url) // drains it (with a ping, perhaps)

	// Inbound: the POST is answered only once the receiver takes the data,
	// and the session outlives its heartbeat meanwhile.
	posted := make(chan eiotest.Response)
	go func() { posted <- eiotest.Post(t, url, "text/plain", []byte("4data")) }()
	eiotest.WaitFor(t, 5*time.Second, "a blocked delivery", func() bool { return sess.inflight.Load() == 1 })
	deadline := srv.now() + 5*srv.opts.PingTimeout
	eiotest.WaitFor(t, 5*time.Second, "heartbeat time to pass", func() bool { return srv.now() > deadline })
	if srv.Len() != 1 {
		t.Fatal("a session busy delivering was dropped")
	}
	select {
	case r := <-posted:
		t.Fatalf("POST answered while the receiver blocks: %q", r.Body)
	default:
	}
	close(b.release)
	if r := <-posted; string(r.Body) != "ok" {
		t.Fatalf("POST = %q", r.Body)
	}
}

func TestSIDPrefixAndUnknownHook(t *testing.T) {
	var unknown string
	_, base := echoServer(t, Options{SIDPrefix: "node-1", OnUnknownSID: func(w http.ResponseWriter, r *http.Request, sid string) bool {
		unknown = sid
		w.WriteHeader(http.StatusTeapot)
		return true
	}})
	sid, _ := eiotest.Handshake(t, base+"4")
	if !strings.HasPrefix(sid, "node-1.") || SIDPrefixOf(sid) != "node-1" || SIDPrefixOf(RandomID()) != "" {
		t.Fatalf("sid %q, prefix %q", sid, SIDPrefixOf(sid))
	}
	if r := eiotest.Get(t, base+"4&transport=polling&sid=node-2.abc"); r.Status != http.StatusTeapot || unknown != "node-2.abc" {
		t.Fatalf("hook: %d %q", r.Status, unknown)
	}
}

func TestCORS(t *testing.T) {
	_, base := echoServer(t, Options{CORS: transportCORS("https://app.example")})
	req, _ := http.NewRequest(http.MethodOptions, base+"4&transport=polling", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"4&transport=polling", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS headers for a foreign origin")
	}
}

func transportCORS(origin string) transport.CORS {
	return transport.CORS{AllowedOrigins: []string{origin}, AllowCredentials: true}
}
