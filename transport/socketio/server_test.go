package socketio

import (
	"bytes"
	"encoding/base64"
	"net"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/transport/engineio"
	"github.com/mqttio/mqttio/transport/internal/eiotest"
	"github.com/mqttio/mqttio/transport/internal/mqttfake"
)

// The MQTT bytes of socketio.md: a 3.1.1 CONNECT (client id io1) and its
// CONNACK.
var (
	connect = []byte{0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 0x69, 0x6f, 0x31}
	connack = []byte{0x20, 0x02, 0x00, 0x00}
	pingreq = []byte{0xc0, 0x00}
	pingres = []byte{0xd0, 0x00}
)

const header = `451-/mqtt,["message",{"_placeholder":true,"num":0}]`

func quiet() engineio.Options {
	return engineio.Options{PingInterval: time.Minute, PingTimeout: time.Minute}
}

// start serves a Socket.IO server on 127.0.0.1 with the fake broker behind
// it, and returns the URL prefix up to "?EIO=".
func start(t *testing.T, eo engineio.Options) (*Server, string) {
	t.Helper()
	srv := NewServer(Options{EngineIO: eo})
	go mqttfake.New().Serve(srv.Listener())
	return srv, serve(t, srv)
}

func serve(t *testing.T, srv *Server) string {
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	return ts.URL + "/socket.io/?EIO="
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

var connected = regexp.MustCompile(`^40/mqtt,\{"sid":"[A-Za-z0-9_-]{20}"\}$`)

// The v4 polling transcript of socketio.md.
func TestV4Polling(t *testing.T) {
	_, base := start(t, quiet())
	sid, _ := eiotest.Handshake(t, base+"4")
	url := base + "4&transport=polling&sid=" + sid
	eiotest.PostOK(t, url, `40/mqtt,{"token":"abc"}`)
	if r := eiotest.Get(t, url); !connected.Match(r.Body) {
		t.Fatalf("connect reply %q", r.Body)
	}
	eiotest.PostOK(t, url, header+"\x1eb"+b64(connect))
	if r := eiotest.Get(t, url); string(r.Body) != header+"\x1ebIAIAAA==" {
		t.Fatalf("CONNACK event %q", r.Body)
	}
}

// The v4 websocket transcript of socketio.md, heartbeat and close included.
func TestV4Websocket(t *testing.T) {
	srv, base := start(t, engineio.Options{PingInterval: 30 * time.Millisecond, PingTimeout: time.Second})
	c := eiotest.Dial(t, base+"4&transport=websocket")
	open := eiotest.ParseOpen(t, eiotest.Read(t, c).Data)
	if len(open.Upgrades) != 0 || open.MaxPayload != 1000000 || open.PingInterval != 30 {
		t.Fatalf("open %+v", open)
	}
	eiotest.Send(t, c, eiotest.Text("40/mqtt,"))
	if f := eiotest.Read(t, c); !connected.Match(f.Data) {
		t.Fatalf("connect reply %v", f)
	}
	eiotest.Send(t, c, eiotest.Text(header))
	eiotest.Send(t, c, eiotest.Binary(connect))
	eiotest.Expect(t, c, eiotest.Text(header), eiotest.Binary(connack))
	eiotest.Expect(t, c, eiotest.Text("2"))
	eiotest.Send(t, c, eiotest.Text("3"))
	eiotest.Expect(t, c, eiotest.Text("2"))
	eiotest.Send(t, c, eiotest.Text("1"))
	eiotest.WaitFor(t, 5*time.Second, "the session to close", func() bool { return srv.Engine().Len() == 0 })
}

// v3 polling as socket.io-client 1.x speaks it: the implicit "/" connect in
// the handshake, "40/mqtt" without a comma, text and XHR2 binary payloads.
func TestV3Polling(t *testing.T) {
	_, base := start(t, quiet())
	sid, body := eiotest.Handshake(t, base+"3")
	if !bytes.HasSuffix(body, []byte("}2:40")) {
		t.Fatalf("handshake %q: no implicit / connect", body)
	}
	url := base + "3&transport=polling&sid=" + sid
	eiotest.PostOK(t, url, "7:40/mqtt")
	if r := eiotest.Get(t, url); string(r.Body) != "8:40/mqtt," {
		t.Fatalf("connect reply %q", r.Body)
	}
	// The captured XHR2 POST and its answer, byte for byte.
	post := append(append([]byte{0x00, 5, 1, 0xff}, header...), 0x01, 1, 8, 0xff, 0x04)
	post = append(post, connect...)
	if r := eiotest.Post(t, url, "application/octet-stream", post); string(r.Body) != "ok" {
		t.Fatalf("POST %d %q", r.Status, r.Body)
	}
	answer := append(append([]byte{0x00, 5, 1, 0xff}, header...), 0x01, 5, 0xff, 0x04, 0x20, 0x02, 0x00, 0x00)
	if r := eiotest.Get(t, url); !bytes.Equal(r.Body, answer) || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("answer\n got % x\nwant % x", r.Body, answer)
	}
	// b64=1: the same exchange as text, binary as "b4<base64>".
	eiotest.PostOK(t, url+"&b64=1", "51:"+header+"6:b4"+b64(pingreq))
	if r := eiotest.Get(t, url+"&b64=1"); string(r.Body) != "51:"+header+"6:b40AA=" {
		t.Fatalf("b64 answer %q", r.Body)
	}
}

// v3 websocket: the 04 prefix on binary frames, client-driven heartbeat.
func TestV3Websocket(t *testing.T) {
	_, base := start(t, quiet())
	c := eiotest.Dial(t, base+"3&transport=websocket")
	eiotest.ParseOpen(t, eiotest.Read(t, c).Data)
	eiotest.Expect(t, c, eiotest.Text("40"))
	eiotest.Send(t, c, eiotest.Text("40/mqtt"))
	eiotest.Expect(t, c, eiotest.Text("40/mqtt,"))
	eiotest.Send(t, c, eiotest.Text(header))
	eiotest.Send(t, c, eiotest.Binary(append([]byte{4}, connect...)))
	eiotest.Expect(t, c, eiotest.Text(header), eiotest.Binary(append([]byte{4}, connack...)))
	eiotest.Send(t, c, eiotest.Text("2"))
	eiotest.Expect(t, c, eiotest.Text("3"))
	// A v3 namespace refusal carries a string.
	eiotest.Send(t, c, eiotest.Text("40/chat,"))
	eiotest.Expect(t, c, eiotest.Text(`44/chat,"Invalid namespace"`))
}

// The upgrade with a Socket.IO session on it: the binary event's header
// may come over polling and its attachment over the websocket.
func TestUpgradeMidEvent(t *testing.T) {
	srv, base := start(t, quiet())
	sid, _ := eiotest.Handshake(t, base+"4")
	url := base + "4&transport=polling&sid=" + sid
	eiotest.PostOK(t, url, "40/mqtt,")
	eiotest.Get(t, url)
	eiotest.PostOK(t, url, header)
	c := eiotest.Dial(t, base+"4&transport=websocket&sid="+sid)
	eiotest.Send(t, c, eiotest.Text("2probe"))
	eiotest.Expect(t, c, eiotest.Text("3probe"))
	eiotest.Send(t, c, eiotest.Text("5"))
	eiotest.WaitFor(t, 5*time.Second, "the upgrade", func() bool { return srv.Engine().Sessions()[0].Transport() == "websocket" })
	eiotest.Send(t, c, eiotest.Binary(connect))
	eiotest.Expect(t, c, eiotest.Text(header), eiotest.Binary(connack))
}

// Inbound is a byte stream: a packet may span events, an event may hold
// several. Outbound, each Write packet is its own event.
func TestStreamFraming(t *testing.T) {
	_, base := start(t, quiet())
	c := eiotest.Dial(t, base+"4&transport=websocket")
	eiotest.Read(t, c)
	eiotest.Send(t, c, eiotest.Text("40/mqtt,"))
	eiotest.Read(t, c)
	for _, part := range [][]byte{connect[:3], connect[3:], append(append([]byte{}, pingreq...), pingreq[:1]...), pingreq[1:]} {
		eiotest.Send(t, c, eiotest.Text(header))
		eiotest.Send(t, c, eiotest.Binary(part))
	}
	eiotest.Expect(t, c,
		eiotest.Text(header), eiotest.Binary(connack),
		eiotest.Text(header), eiotest.Binary(pingres),
		eiotest.Text(header), eiotest.Binary(pingres))
}

func TestWriteSplitsPackets(t *testing.T) {
	srv := NewServer(Options{EngineIO: quiet()})
	base := serve(t, srv)
	got := make(chan net.Conn, 1)
	go func() {
		c, err := srv.Listener().Accept()
		if err == nil {
			got <- c
		}
	}()
	ws := eiotest.Dial(t, base+"4&transport=websocket")
	eiotest.Read(t, ws)
	eiotest.Send(t, ws, eiotest.Text("40/mqtt,"))
	eiotest.Read(t, ws)
	c := <-got
	big := mqttfake.Publish("t", bytes.Repeat([]byte("x"), 200), 0, false, 0) // a two-byte remaining length
	// Two whole packets in one Write, then one packet over two Writes.
	c.Write(append(append([]byte{}, connack...), pingres...))
	c.Write(big[:3])
	c.Write(big[3:])
	eiotest.Expect(t, ws,
		eiotest.Text(header), eiotest.Binary(connack),
		eiotest.Text(header), eiotest.Binary(pingres),
		eiotest.Text(header), eiotest.Binary(big))
	// Close disconnects the namespace, then the session.
	c.Close()
	eiotest.Expect(t, ws, eiotest.Text("41/mqtt,"), eiotest.Text("1"))
}

func TestRefusals(t *testing.T) {
	connectWS := func(t *testing.T) (*Server, *websocket.Conn) {
		srv, base := start(t, quiet())
		c := eiotest.Dial(t, base+"4&transport=websocket")
		eiotest.Read(t, c)
		return srv, c
	}
	t.Run("other namespaces", func(t *testing.T) {
		_, c := connectWS(t)
		eiotest.Send(t, c, eiotest.Text("40/chat,"))
		eiotest.Expect(t, c, eiotest.Text(`44/chat,{"message":"Invalid namespace"}`))
		eiotest.Send(t, c, eiotest.Text("40"))
		eiotest.Expect(t, c, eiotest.Text(`44{"message":"Invalid namespace"}`))
		// The session lives on: /mqtt still connects.
		eiotest.Send(t, c, eiotest.Text("40/mqtt,"))
		if f := eiotest.Read(t, c); !connected.Match(f.Data) {
			t.Fatalf("connect reply %v", f)
		}
	})
	t.Run("other events are ignored", func(t *testing.T) {
		_, c := connectWS(t)
		eiotest.Send(t, c, eiotest.Text("40/mqtt,"))
		eiotest.Read(t, c)
		eiotest.Send(t, c, eiotest.Text(`42/mqtt,["chat","hello"]`))
		eiotest.Send(t, c, eiotest.Text(`451-/mqtt,["file",{"_placeholder":true,"num":0}]`))
		eiotest.Send(t, c, eiotest.Binary([]byte("ignored")))
		eiotest.Send(t, c, eiotest.Text(header))
		eiotest.Send(t, c, eiotest.Binary(connect))
		eiotest.Expect(t, c, eiotest.Text(header), eiotest.Binary(connack))
	})
	for name, tc := range map[string]struct {
		send   []eiotest.Frame
		expect []string
	}{
		"text argument":         {[]eiotest.Frame{eiotest.Text("40/mqtt,"), eiotest.Text(`42/mqtt,["message","10 0f"]`)}, []string{"connected", "41/mqtt,", "1"}},
		"two attachments":       {[]eiotest.Frame{eiotest.Text("40/mqtt,"), eiotest.Text(`452-/mqtt,["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}, []string{"connected", "41/mqtt,", "1"}},
		"event before connect":  {[]eiotest.Frame{eiotest.Text(header)}, []string{"1"}},
		"malformed packet":      {[]eiotest.Frame{eiotest.Text("4x")}, []string{"1"}},
		"reserved event name":   {[]eiotest.Frame{eiotest.Text("40/mqtt,"), eiotest.Text(`42/mqtt,["connect"]`)}, []string{"connected", "1"}},
		"unannounced binary":    {[]eiotest.Frame{eiotest.Text("40/mqtt,"), eiotest.Binary(connect)}, []string{"connected", "1"}},
		"text while attachment": {[]eiotest.Frame{eiotest.Text("40/mqtt,"), eiotest.Text(header), eiotest.Text(header)}, []string{"connected", "1"}},
		"ack from the client":   {[]eiotest.Frame{eiotest.Text("40/mqtt,"), eiotest.Text(`43/mqtt,1[]`)}, []string{"connected", "1"}},
		"double connect":        {[]eiotest.Frame{eiotest.Text("40/mqtt,"), eiotest.Text("40/mqtt,")}, []string{"connected", "1"}},
		"text on engine level":  {[]eiotest.Frame{eiotest.Text("9")}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			srv, c := connectWS(t)
			for _, f := range tc.send {
				eiotest.Send(t, c, f)
			}
			for _, want := range tc.expect {
				f := eiotest.Read(t, c)
				if want == "connected" && connected.Match(f.Data) {
					continue
				}
				if string(f.Data) != want {
					t.Fatalf("got %v, want %s", f, want)
				}
			}
			eiotest.WaitFor(t, 5*time.Second, "the session to close", func() bool { return srv.Engine().Len() == 0 })
		})
	}
}

func TestPacketLen(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int
	}{
		{nil, 0}, {[]byte{0x20}, 0}, {connack, 4}, {connack[:3], 0}, {append(connack, 1), 4},
		{[]byte{0x30, 0x80, 0x01}, 0}, {append([]byte{0x30, 0x80, 0x01}, make([]byte, 128)...), 131},
		{[]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, -1},
	} {
		if got := packetLen(tc.b); got != tc.want {
			t.Errorf("packetLen(% x) = %d, want %d", tc.b, got, tc.want)
		}
	}
}
