package mqttio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/transport"
	"github.com/mqttio/mqttio/transport/socketio"
)

// Raw Go clients of each transport, each an MQTT byte stream as a net.Conn
// for broker/mqtttest: the test decides every MQTT byte, and, for the
// Engine.IO ones, whether the client answers the server's pings.
//
//	tcp               plain MQTT
//	mqtt-ws           /mqtt, one binary frame per Write
//	socketio-ws       /socket.io/ EIO 4 websocket, namespace /mqtt, one event per Write
//	socketio-polling  /socket.io/ EIO 4 long-polling, one event per Write
//	engineio-ws       /engine.io/ EIO 4 websocket, one binary message per Write
var transports = []string{"tcp", "mqtt-ws", "socketio-ws", "socketio-polling", "engineio-ws"}

// heartbeat is the Engine.IO side of a client: whether it answers pings,
// and how many it has answered.
type heartbeat struct {
	silent atomic.Bool // stop answering pings
	pongs  atomic.Int64
}

// dial opens an MQTT byte stream to n over kind. The heartbeat is nil for
// transports without one.
func dial(t testing.TB, n *node, kind string) (net.Conn, *heartbeat) {
	t.Helper()
	var (
		c  net.Conn
		hb *heartbeat
	)
	switch kind {
	case "tcp":
		var err error
		if c, err = net.Dial("tcp", n.tcp); err != nil {
			t.Fatal(err)
		}
	case "mqtt-ws":
		c = dialWS(t, n.url, mqttWS)
	case "socketio-ws":
		w := dialWS(t, n.url, socketioWS)
		c, hb = w, &w.hb
	case "engineio-ws":
		w := dialWS(t, n.url, engineioWS)
		c, hb = w, &w.hb
	case "socketio-polling":
		p := dialPolling(t, n.url)
		c, hb = p, &p.hb
	default:
		t.Fatalf("unknown transport %q", kind)
	}
	t.Cleanup(func() { c.Close() })
	return c, hb
}

type wsKind uint8

const (
	mqttWS     wsKind = iota // /mqtt: binary frames are the stream
	socketioWS               // /socket.io/: binary events of namespace /mqtt
	engineioWS               // /engine.io/: binary messages
)

// sioHeader is the Engine.IO message holding the Socket.IO header that
// announces one MQTT packet, the binary message that follows.
var sioHeader = socketio.AppendPacket([]byte("4"), socketio.Packet{Type: socketio.BinaryEvent, Attachments: 1,
	Namespace: "/mqtt", ID: -1, Data: []byte(`["message",{"_placeholder":true,"num":0}]`)})

// wsConn is a client websocket. It reads with gorilla/websocket and writes
// its frames itself, into a buffer that Write flushes (or, with Buffered,
// the caller's Flush): the benchmark then costs the client one system
// call per burst, whatever the transport.
type wsConn struct {
	ws   *websocket.Conn
	kind wsKind
	hb   heartbeat

	rmu  sync.Mutex
	cur  io.Reader    // the binary frame being read
	text bytes.Buffer // the text frame being read

	wmu      sync.Mutex
	bw       *bufio.Writer
	Buffered bool // Write leaves the frames in the buffer: Flush sends them
	closed   bool
}

func dialWS(t testing.TB, base string, kind wsKind) *wsConn {
	t.Helper()
	path, proto := "/mqtt", []string{"mqtt"}
	switch kind {
	case socketioWS:
		path, proto = "/socket.io/?EIO=4&transport=websocket", nil
	case engineioWS:
		path, proto = "/engine.io/?EIO=4&transport=websocket", nil
	}
	d := websocket.Dialer{Subprotocols: proto, HandshakeTimeout: waitTimeout}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+path, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", path, err, status)
	}
	c := &wsConn{ws: ws, kind: kind, bw: bufio.NewWriterSize(ws.NetConn(), 64<<10)}
	if kind == mqttWS {
		return c
	}
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	defer ws.SetReadDeadline(time.Time{})
	if _, open, err := ws.ReadMessage(); err != nil || !bytes.HasPrefix(open, []byte(`0{"sid":`)) {
		t.Fatalf("Engine.IO open packet: %q %v", open, err)
	}
	if kind == socketioWS {
		c.writeFrame(websocket.TextMessage, []byte("40/mqtt,"))
		if err := c.bw.Flush(); err != nil {
			t.Fatal(err)
		}
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("Socket.IO connect: %v", err)
			}
			if string(msg) == "2" {
				c.pong()
				continue
			}
			if !bytes.HasPrefix(msg, []byte(`40/mqtt,{"sid":`)) {
				t.Fatalf("Socket.IO connect: %q", msg)
			}
			break
		}
	}
	return c
}

// writeFrame appends one masked client frame (with a zero key: the payload
// goes as it is) to the buffer; c.wmu is held.
func (c *wsConn) writeFrame(op int, p []byte) {
	var h [14]byte
	h[0] = 0x80 | byte(op)
	n := 2
	switch {
	case len(p) < 126:
		h[1] = 0x80 | byte(len(p))
	case len(p) <= 0xffff:
		h[1] = 0x80 | 126
		binary.BigEndian.PutUint16(h[2:], uint16(len(p)))
		n = 4
	default:
		h[1] = 0x80 | 127
		binary.BigEndian.PutUint64(h[2:], uint64(len(p)))
		n = 10
	}
	c.bw.Write(h[:n+4]) // the mask key: four zero bytes
	c.bw.Write(p)
}

// Write sends p as one MQTT.IO unit: a binary frame (mqtt-ws, engineio-ws)
// or a binary event, its header and its attachment (socketio-ws).
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.kind == socketioWS {
		c.writeFrame(websocket.TextMessage, sioHeader)
	}
	c.writeFrame(websocket.BinaryMessage, p)
	if c.Buffered {
		return len(p), nil
	}
	if err := c.bw.Flush(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends what buffered Writes left.
func (c *wsConn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.bw.Flush()
}

func (c *wsConn) pong() {
	if c.hb.silent.Load() {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeFrame(websocket.TextMessage, []byte("3"))
	if c.bw.Flush() == nil {
		c.hb.pongs.Add(1)
	}
}

// Read reads the MQTT stream, answering pings on the way (unless silent).
func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.cur != nil {
			n, err := c.cur.Read(p)
			if err == io.EOF {
				c.cur, err = nil, nil
			}
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		mt, r, err := c.ws.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return 0, io.EOF
			}
			return 0, err
		}
		if mt == websocket.BinaryMessage {
			c.cur = r
			continue
		}
		c.text.Reset()
		if _, err := c.text.ReadFrom(r); err != nil {
			return 0, err
		}
		msg := c.text.Bytes()
		switch {
		case c.kind == mqttWS:
			return 0, fmt.Errorf("text frame on /mqtt: %q", msg)
		case string(msg) == "2":
			c.pong()
		case string(msg) == "1": // the Engine.IO close packet
			return 0, io.EOF
		case c.kind == socketioWS && (bytes.Equal(msg, sioHeader) || string(msg) == "41/mqtt,"):
		default:
			return 0, fmt.Errorf("unexpected Engine.IO frame %q", msg)
		}
	}
}

// Close closes the websocket at once, without a close frame: an abrupt end.
func (c *wsConn) Close() error {
	c.wmu.Lock()
	c.closed = true
	c.wmu.Unlock()
	return c.ws.Close()
}

func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetDeadline(t time.Time) error      { return c.ws.NetConn().SetDeadline(t) }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.NetConn().SetWriteDeadline(t) }

// pollConn is a Socket.IO client over EIO 4 long-polling: a goroutine
// keeps one GET pending and feeds the inbound stream; Write POSTs one
// binary event. One POST at a time, as the protocol wants.
type pollConn struct {
	transport.Stream
	url    string // …/socket.io/?EIO=4&transport=polling&sid=…
	client *http.Client
	hb     heartbeat

	postMu    sync.Mutex
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // the GET loop has ended
	connected chan struct{}
}

func dialPolling(t testing.TB, base string) *pollConn {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 4}, Timeout: time.Minute}
	url := base + "/socket.io/?EIO=4&transport=polling"
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	open, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, sid, ok := bytes.Cut(open, []byte(`"sid":"`))
	if i := bytes.IndexByte(sid, '"'); !ok || resp.StatusCode != 200 || i < 0 {
		t.Fatalf("polling handshake: %d %q", resp.StatusCode, open)
	} else {
		sid = sid[:i]
	}
	c := &pollConn{url: url + "&sid=" + string(sid), client: client, done: make(chan struct{}), connected: make(chan struct{})}
	c.In.Limit = 1 << 20
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.post([]byte("40/mqtt,")); err != nil {
		t.Fatal(err)
	}
	go c.pollLoop()
	select {
	case <-c.connected:
	case <-c.done:
		t.Fatalf("polling: the session ended before /mqtt connected")
	case <-time.After(waitTimeout):
		t.Fatalf("polling: /mqtt not connected within %v", waitTimeout)
	}
	return c
}

func (c *pollConn) post(body []byte) error {
	c.postMu.Lock()
	defer c.postMu.Unlock()
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(answer) != "ok" {
		return fmt.Errorf("POST: %d %q", resp.StatusCode, answer)
	}
	return nil
}

// pollLoop holds a GET until the session or the client ends.
func (c *pollConn) pollLoop() {
	defer close(c.done)
	var err error
	defer func() { c.In.Close(err) }()
	for {
		req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.url, nil)
		var resp *http.Response
		if resp, err = c.client.Do(req); err != nil {
			return
		}
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || rerr != nil {
			err = fmt.Errorf("GET: %d %q %v", resp.StatusCode, body, rerr)
			return
		}
		for pkt := range bytes.SplitSeq(body, []byte{0x1e}) {
			switch {
			case len(pkt) > 0 && pkt[0] == 'b':
				data, derr := base64.StdEncoding.DecodeString(string(pkt[1:]))
				if derr != nil {
					err = derr
					return
				}
				if err = c.In.Push(data, nil); err != nil {
					return
				}
			case string(pkt) == "2":
				if !c.hb.silent.Load() {
					if err = c.post([]byte("3")); err != nil {
						return
					}
					c.hb.pongs.Add(1)
				}
			case string(pkt) == "1": // the Engine.IO close packet
				err = io.EOF
				return
			case bytes.HasPrefix(pkt, []byte(`40/mqtt,{"sid":`)):
				close(c.connected)
			case string(pkt) == "6", bytes.Equal(pkt, sioHeader), string(pkt) == "41/mqtt,":
			default:
				err = fmt.Errorf("unexpected packet %q", pkt)
				return
			}
		}
	}
}

// Write POSTs p as one binary event.
func (c *pollConn) Write(p []byte) (int, error) {
	body := append(append(bytes.Clone(sioHeader), 0x1e, 'b'), base64.StdEncoding.EncodeToString(p)...)
	if err := c.post(body); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close vanishes: the pending GET is abandoned and nothing more is sent,
// as when a browser tab dies. The server finds out by its heartbeat.
func (c *pollConn) Close() error {
	c.cancel()
	<-c.done
	c.client.CloseIdleConnections()
	return nil
}
