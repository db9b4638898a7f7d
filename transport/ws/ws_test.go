package ws

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/transport/internal/eiotest"
	"github.com/mqttio/mqttio/transport/internal/mqttfake"
)

var (
	connect = []byte{0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 0x69, 0x6f, 0x31}
	connack = []byte{0x20, 0x02, 0x00, 0x00}
	pingreq = []byte{0xc0, 0x00}
	pingres = []byte{0xd0, 0x00}
)

// start serves /mqtt on 127.0.0.1 with the fake broker behind it.
func start(t *testing.T) (*Server, string) {
	srv := NewServer(Options{})
	go mqttfake.New().Serve(srv.Listener())
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	return srv, ts.URL + "/mqtt"
}

func TestFraming(t *testing.T) {
	_, url := start(t)
	for _, proto := range []string{"mqtt", "mqttv3.1"} {
		c := eiotest.Dial(t, url, proto)
		if c.Subprotocol() != proto {
			t.Fatalf("subprotocol %q, want %q", c.Subprotocol(), proto)
		}
		// A packet across frames; two packets in one frame.
		eiotest.Send(t, c, eiotest.Binary(connect[:5]))
		eiotest.Send(t, c, eiotest.Binary(connect[5:]))
		eiotest.Expect(t, c, eiotest.Binary(connack))
		eiotest.Send(t, c, eiotest.Binary(append(append([]byte{}, pingreq...), pingreq...)))
		eiotest.Expect(t, c, eiotest.Binary(pingres), eiotest.Binary(pingres))
	}
}

// [MQTT-6.0.0-1] a text frame closes the connection.
func TestTextFrameCloses(t *testing.T) {
	_, url := start(t)
	c := eiotest.Dial(t, url, "mqtt")
	eiotest.Send(t, c, eiotest.Text("hello"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseUnsupportedData {
		t.Fatalf("after a text frame: %v", err)
	}
}

func TestConnAddrsAndDeadlines(t *testing.T) {
	srv := NewServer(Options{})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	c := eiotest.Dial(t, ts.URL+"/mqtt", "mqtt")
	sc, err := srv.Listener().Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if sc.RemoteAddr().String() != c.LocalAddr().String() || sc.LocalAddr().String() != strings.TrimPrefix(ts.URL, "http://") {
		t.Fatalf("addrs %v %v", sc.RemoteAddr(), sc.LocalAddr())
	}
	sc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	var ne net.Error
	if _, err := sc.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v", err)
	}
}

// MQTT over WebSocket with Debian's python3-paho-mqtt.
func TestPahoWebsocket(t *testing.T) {
	_, url := start(t)
	host, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/mqtt"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/paho_ws.py", host, port).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("paho over websocket: %v\n%s", err, out)
	}
}
