package main

// MQTT over WebSocket and over Socket.IO (MQTT.IO), client side, with a
// minimal RFC 6455 implementation that allocates nothing per frame (a
// general WebSocket library allocates a reader per message, and Socket.IO
// delivers one MQTT packet per message). Wire facts:
// ../shared/protocol/socketio.md.
//
//   - ws:       GET /mqtt, subprotocol "mqtt"; binary frames carry the MQTT
//     byte stream, packets may span frames.
//   - socketio: GET /socket.io/?EIO=4&transport=websocket; Engine.IO v4 open
//     packet, Socket.IO CONNECT to namespace /mqtt, then every MQTT write is
//     one BINARY_EVENT "message" (a text frame) with one attachment (a
//     binary frame). The server treats the inbound side as a byte stream, so
//     one event may carry a whole batch; it sends one packet per event. The
//     client answers the server's pings ("2" → "3").

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// WebSocket opcodes [RFC 6455 5.2].
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

var (
	sioEventHeader = []byte(`451-/mqtt,["message",{"_placeholder":true,"num":0}]`)
	errTextFrame   = errors.New("websocket: text frame on an MQTT connection")
)

// wsConn is an MQTT byte stream over a WebSocket. Read is for one
// goroutine; Write may be called from several.
type wsConn struct {
	net.Conn
	br  *bufio.Reader
	sio bool

	// Read state.
	remain  int64 // payload bytes left in the current binary frame
	binary  bool  // the current message is binary (continuations inherit it)
	masked  bool  // never true from a conforming server
	text    []byte
	control []byte
	hdr     [10]byte

	wmu  sync.Mutex
	wbuf []byte
}

// dialWS opens a WebSocket to addr (host:port) at path; socketIO selects
// the MQTT.IO framing and does the Engine.IO / Socket.IO handshake.
func dialWS(addr, path string, socketIO bool, timeout time.Duration) (*wsConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(timeout))
	ws := &wsConn{Conn: c, br: bufio.NewReaderSize(c, 64<<10), sio: socketIO}
	if err := ws.upgrade(addr, path); err != nil {
		c.Close()
		return nil, err
	}
	if socketIO {
		if err := ws.sioHandshake(); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.SetDeadline(time.Time{})
	return ws, nil
}

func (ws *wsConn) upgrade(addr, path string) error {
	var key [16]byte
	rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", path, addr, k)
	if !ws.sio {
		req.WriteString("Sec-WebSocket-Protocol: mqtt\r\n")
	}
	req.WriteString("\r\n")
	if _, err := ws.Conn.Write(req.Bytes()); err != nil {
		return err
	}
	resp, err := http.ReadResponse(ws.br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return fmt.Errorf("websocket upgrade: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("websocket upgrade: %s", resp.Status)
	}
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return errors.New("websocket upgrade: bad Sec-WebSocket-Accept")
	}
	return nil
}

// sioHandshake reads the Engine.IO open packet and connects the /mqtt
// namespace.
func (ws *wsConn) sioHandshake() error {
	open, err := ws.readText()
	if err != nil {
		return fmt.Errorf("engine.io open: %w", err)
	}
	if !strings.HasPrefix(open, "0{") {
		return fmt.Errorf("engine.io open: got %q", open)
	}
	if err := ws.writeFrames(opText, []byte("40/mqtt,"), nil); err != nil {
		return err
	}
	for {
		msg, err := ws.readText()
		if err != nil {
			return fmt.Errorf("socket.io connect: %w", err)
		}
		switch {
		case strings.HasPrefix(msg, "40/mqtt,"):
			return nil
		case msg == "2":
			if err := ws.writeFrames(opText, []byte("3"), nil); err != nil {
				return err
			}
		case strings.HasPrefix(msg, "44/mqtt,"):
			return fmt.Errorf("socket.io connect refused: %s", msg)
		}
	}
}

// readText reads frames until a whole text message (handshake only).
func (ws *wsConn) readText() (string, error) {
	// read delivers binary data; a text message ends up in ws.text and is
	// reported through errSawText.
	var one [1]byte
	_, err := ws.read(one[:], true)
	if err == errSawText {
		s := string(ws.text)
		ws.text = ws.text[:0]
		return s, nil
	}
	if err != nil {
		return "", err
	}
	return "", errors.New("binary data during the handshake")
}

var errSawText = errors.New("text message")

// Read returns bytes of binary messages.
func (ws *wsConn) Read(p []byte) (int, error) { return ws.read(p, false) }

func (ws *wsConn) read(p []byte, wantText bool) (int, error) {
	for {
		if ws.remain > 0 && ws.binary {
			n, err := ws.br.Read(p[:min(int64(len(p)), ws.remain)])
			ws.remain -= int64(n)
			return n, err
		}
		if err := ws.nextFrame(wantText); err != nil {
			return 0, err
		}
	}
}

// nextFrame reads a frame header and handles control frames and ends of
// text messages. It leaves ws.remain set for a data frame's payload.
func (ws *wsConn) nextFrame(wantText bool) error {
	h := ws.hdr[:2] // a field: a local array would escape through io.ReadFull
	if _, err := io.ReadFull(ws.br, h); err != nil {
		return err
	}
	fin, op := h[0]&0x80 != 0, h[0]&0x0f
	ws.masked = h[1]&0x80 != 0
	n := int64(h[1] & 0x7f)
	switch n {
	case 126:
		b := ws.hdr[2:4]
		if _, err := io.ReadFull(ws.br, b); err != nil {
			return err
		}
		n = int64(binary.BigEndian.Uint16(b))
	case 127:
		b := ws.hdr[2:10]
		if _, err := io.ReadFull(ws.br, b); err != nil {
			return err
		}
		n = int64(binary.BigEndian.Uint64(b))
	}
	if ws.masked {
		return errors.New("websocket: masked frame from the server")
	}
	switch op {
	case opBinary:
		ws.binary, ws.remain = true, n
		return nil
	case opContinuation:
		if ws.binary {
			ws.remain = n
			return nil
		}
		if err := ws.readPayload(&ws.text, n); err != nil {
			return err
		}
		if fin {
			return ws.textDone(wantText)
		}
		return nil
	case opText:
		if !ws.sio && !wantText {
			return errTextFrame
		}
		ws.binary = false
		ws.text = ws.text[:0]
		if err := ws.readPayload(&ws.text, n); err != nil {
			return err
		}
		if fin {
			return ws.textDone(wantText)
		}
		return nil
	case opClose:
		return io.EOF
	case opPing, opPong:
		ws.control = ws.control[:0]
		if err := ws.readPayload(&ws.control, n); err != nil {
			return err
		}
		if op == opPing {
			return ws.writeFrames(opPong, ws.control, nil)
		}
		return nil
	}
	return fmt.Errorf("websocket: opcode %d", op)
}

func (ws *wsConn) readPayload(dst *[]byte, n int64) error {
	if n > 1<<20 {
		return errors.New("websocket: control or text frame too large")
	}
	start := len(*dst)
	*dst = append(*dst, make([]byte, n)...)
	_, err := io.ReadFull(ws.br, (*dst)[start:])
	return err
}

// textDone handles a whole text message: Socket.IO and Engine.IO packets.
func (ws *wsConn) textDone(wantText bool) error {
	if wantText {
		return errSawText
	}
	msg := ws.text
	switch {
	case len(msg) == 1 && msg[0] == '2': // Engine.IO ping
		return ws.writeFrames(opText, []byte("3"), nil)
	case bytes.HasPrefix(msg, []byte("451-/mqtt,")): // the next binary frame is the data
		return nil
	case bytes.HasPrefix(msg, []byte("41/mqtt")), len(msg) == 1 && msg[0] == '1':
		return io.EOF
	}
	return nil // noop and anything else
}

// Write sends b as one binary message; over Socket.IO as one "message"
// event with b as its attachment.
func (ws *wsConn) Write(b []byte) (int, error) {
	var err error
	if ws.sio {
		err = ws.writeFrames(opText, sioEventHeader, b)
	} else {
		err = ws.writeFrames(opBinary, b, nil)
	}
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// writeFrames writes one frame of payload a (opcode op) and, when b is
// not nil, a binary frame of b after it, in one write.
func (ws *wsConn) writeFrames(op byte, a, b []byte) error {
	ws.wmu.Lock()
	defer ws.wmu.Unlock()
	buf := appendFrame(ws.wbuf[:0], op, a)
	if b != nil {
		buf = appendFrame(buf, opBinary, b)
	}
	ws.wbuf = buf
	_, err := ws.Conn.Write(buf)
	return err
}

// appendFrame appends a masked client frame [RFC 6455 5.3].
func appendFrame(dst []byte, op byte, p []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(p); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	key := mrand.Uint32()
	dst = binary.BigEndian.AppendUint32(dst, key)
	start := len(dst)
	dst = append(dst, p...)
	maskBytes(dst[start:], key)
	return dst
}

// maskBytes XORs b with the repeated 4-byte key, 8 bytes at a time.
func maskBytes(b []byte, key uint32) {
	var k [8]byte
	binary.BigEndian.PutUint32(k[:4], key)
	copy(k[4:], k[:4])
	k8 := binary.LittleEndian.Uint64(k[:])
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k8)
	}
	for ; i < len(b); i++ {
		b[i] ^= k[i&3]
	}
}
