// Package eiotest has raw-protocol helpers for the Engine.IO and Socket.IO
// tests: plain HTTP requests and websocket frames, so that every byte on the
// wire is the test's own, plus a polling wait (no sleeps).
package eiotest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Response is what a request got back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func do(t testing.TB, req *http.Request) Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", req.Method, req.URL, err)
	}
	return Response{resp.StatusCode, resp.Header, body}
}

// Get sends a GET.
func Get(t testing.TB, url string) Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return do(t, req)
}

// Post sends a POST with the given content type.
func Post(t testing.TB, url, contentType string, body []byte) Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return do(t, req)
}

// PostOK posts a text/plain body and fails the test unless answered "ok".
func PostOK(t testing.TB, url string, body string) {
	t.Helper()
	if r := Post(t, url, "text/plain;charset=UTF-8", []byte(body)); r.Status != 200 || string(r.Body) != "ok" {
		t.Fatalf("POST %q: %d %q", body, r.Status, r.Body)
	}
}

// Open is the JSON of an Engine.IO open packet.
type Open struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// ParseOpen parses an open packet ("0{...}").
func ParseOpen(t testing.TB, pkt []byte) Open {
	t.Helper()
	var o Open
	if len(pkt) == 0 || pkt[0] != '0' || json.Unmarshal(pkt[1:], &o) != nil || o.SID == "" {
		t.Fatalf("not an open packet: %q", pkt)
	}
	return o
}

// Handshake opens a polling session at base ("http://host/socket.io/?EIO=4")
// and returns its sid and the whole handshake body.
func Handshake(t testing.TB, base string) (string, []byte) {
	t.Helper()
	r := Get(t, base+"&transport=polling")
	if r.Status != 200 {
		t.Fatalf("handshake: %d %s", r.Status, r.Body)
	}
	body := r.Body
	if i := bytes.IndexByte(body, ':'); i > 0 && i < 5 && !bytes.HasPrefix(body, []byte("0{")) {
		body = body[i+1:] // v3 text framing: skip "<len>:"
	}
	end := bytes.IndexByte(body, '}')
	return ParseOpen(t, body[:end+1]).SID, r.Body
}

// WSURL turns an http:// URL into ws://.
func WSURL(url string) string { return "ws" + strings.TrimPrefix(url, "http") }

// Dial opens a websocket.
func Dial(t testing.TB, url string, subprotocols ...string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: subprotocols, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(WSURL(url), nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Frame is one websocket data frame.
type Frame struct {
	Binary bool
	Data   []byte
}

func (f Frame) String() string {
	if f.Binary {
		return "[binary] " + strings.TrimSpace(strings.ReplaceAll(string(hexBytes(f.Data)), "  ", " "))
	}
	return string(f.Data)
}

func hexBytes(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 3*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15], ' ')
	}
	return out
}

// Read reads the next data frame, failing after 5 seconds.
func Read(t testing.TB, c *websocket.Conn) Frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	return Frame{mt == websocket.BinaryMessage, data}
}

// Expect reads frames and fails unless they are want, in order.
func Expect(t testing.TB, c *websocket.Conn, want ...Frame) {
	t.Helper()
	for _, w := range want {
		if got := Read(t, c); got.Binary != w.Binary || !bytes.Equal(got.Data, w.Data) {
			t.Fatalf("websocket frame:\n got %v\nwant %v", got, w)
		}
	}
}

// Text and Binary build expected frames.
func Text(s string) Frame   { return Frame{false, []byte(s)} }
func Binary(b []byte) Frame { return Frame{true, b} }
func Send(t testing.TB, c *websocket.Conn, f Frame) {
	t.Helper()
	mt := websocket.TextMessage
	if f.Binary {
		mt = websocket.BinaryMessage
	}
	if err := c.WriteMessage(mt, f.Data); err != nil {
		t.Fatalf("websocket write: %v", err)
	}
}

// WaitFor polls cond every millisecond until it holds, failing the test
// after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
