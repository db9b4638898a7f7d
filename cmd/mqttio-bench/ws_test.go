package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// serverFrame encodes an unmasked server frame.
func serverFrame(fin bool, op byte, p []byte) []byte {
	b := op
	if fin {
		b |= 0x80
	}
	out := []byte{b}
	switch n := len(p); {
	case n < 126:
		out = append(out, byte(n))
	case n <= 0xffff:
		out = append(out, 126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, p...)
}

// recorder is a net.Conn whose writes are kept.
type recorder struct {
	nullConn
	w bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) { return r.w.Write(b) }

// decodeClientFrames unmasks the frames a client wrote.
func decodeClientFrames(t *testing.T, b []byte) (ops []byte, payloads [][]byte) {
	t.Helper()
	for len(b) > 0 {
		if b[0]&0x80 == 0 || b[1]&0x80 == 0 {
			t.Fatalf("frame not final or not masked: % x", b[:2])
		}
		op, n, off := b[0]&0x0f, int(b[1]&0x7f), 2
		switch n {
		case 126:
			n, off = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, off = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		key := b[off : off+4]
		p := bytes.Clone(b[off+4 : off+4+n])
		for i := range p {
			p[i] ^= key[i&3]
		}
		ops = append(ops, op)
		payloads = append(payloads, p)
		b = b[off+4+n:]
	}
	return ops, payloads
}

func TestWSFramesRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 7, 125, 126, 1000, 65535, 65536, 70000} {
		rec := &recorder{}
		ws := &wsConn{Conn: rec}
		p := bytes.Repeat([]byte{0xa5, 0x01, 0x7f}, size/3+1)[:size]
		if _, err := ws.Write(p); err != nil {
			t.Fatal(err)
		}
		ops, got := decodeClientFrames(t, rec.w.Bytes())
		if len(ops) != 1 || ops[0] != opBinary || !bytes.Equal(got[0], p) {
			t.Fatalf("size %d: ops %v, payload equal %v", size, ops, len(got) == 1 && bytes.Equal(got[0], p))
		}
	}
	// Socket.IO: the event header as a text frame, then the attachment.
	rec := &recorder{}
	ws := &wsConn{Conn: rec, sio: true}
	ws.Write([]byte{0x30, 0x02})
	ops, got := decodeClientFrames(t, rec.w.Bytes())
	if len(ops) != 2 || ops[0] != opText || string(got[0]) != string(sioEventHeader) || ops[1] != opBinary || !bytes.Equal(got[1], []byte{0x30, 0x02}) {
		t.Fatalf("socket.io write: ops %v payloads %q", ops, got)
	}
}

func TestWSReadStream(t *testing.T) {
	// Binary data split over frames and continuations, interleaved with a
	// ping (answered with a pong) and, for Socket.IO, event headers and an
	// Engine.IO ping (answered with "3").
	var in []byte
	in = append(in, serverFrame(false, opBinary, []byte("hel"))...)
	in = append(in, serverFrame(true, opPing, []byte("p"))...)
	in = append(in, serverFrame(true, opContinuation, []byte("lo "))...)
	in = append(in, serverFrame(true, opText, []byte(`451-/mqtt,["message",{"_placeholder":true,"num":0}]`))...)
	in = append(in, serverFrame(true, opBinary, bytes.Repeat([]byte("w"), 300))...)
	in = append(in, serverFrame(false, opText, []byte("2"))...)
	in = append(in, serverFrame(true, opContinuation, nil)...)
	in = append(in, serverFrame(true, opBinary, bytes.Repeat([]byte("x"), 70000))...)
	in = append(in, serverFrame(true, opClose, nil)...)
	want := "hello " + string(bytes.Repeat([]byte("w"), 300)) + string(bytes.Repeat([]byte("x"), 70000))

	rec := &recorder{}
	ws := &wsConn{Conn: rec, br: bufio.NewReaderSize(bytes.NewReader(in), 4096), sio: true}
	got, err := io.ReadAll(ws)
	if err != nil || string(got) != want {
		t.Fatalf("read %d bytes, err %v; want %d bytes", len(got), err, len(want))
	}
	ops, payloads := decodeClientFrames(t, rec.w.Bytes())
	if len(ops) != 2 || ops[0] != opPong || string(payloads[0]) != "p" || ops[1] != opText || string(payloads[1]) != "3" {
		t.Fatalf("replies: ops %v payloads %q", ops, payloads)
	}

	// Plain MQTT over WebSocket refuses text frames [MQTT-6.0.0-1].
	ws = &wsConn{Conn: &recorder{}, br: bufio.NewReader(bytes.NewReader(serverFrame(true, opText, []byte("hi"))))}
	if _, err := ws.Read(make([]byte, 10)); err != errTextFrame {
		t.Fatalf("text frame: %v", err)
	}
	// A masked server frame is an error.
	masked := serverFrame(true, opBinary, []byte("abcd"))
	masked[1] |= 0x80
	ws = &wsConn{Conn: &recorder{}, br: bufio.NewReader(bytes.NewReader(masked))}
	if _, err := ws.Read(make([]byte, 10)); err == nil {
		t.Fatal("masked frame accepted")
	}
}

func TestWSNoAllocs(t *testing.T) {
	frame := serverFrame(true, opBinary, bytes.Repeat([]byte("m"), 64))
	hdr := serverFrame(true, opText, sioEventHeader)
	var in []byte
	for range 2000 {
		in = append(in, hdr...)
		in = append(in, frame...)
	}
	r := bytes.NewReader(in)
	ws := &wsConn{Conn: &recorder{}, br: bufio.NewReaderSize(r, 64<<10), sio: true}
	buf := make([]byte, 64)
	if _, err := io.ReadFull(ws, buf); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(500, func() { io.ReadFull(ws, buf) }); n > wsReadAllocs {
		t.Errorf("read: %v allocations per message", n)
	}
	ws = &wsConn{Conn: nullConn{}, sio: true}
	ws.Write(buf)
	if n := testing.AllocsPerRun(500, func() { ws.Write(buf) }); n != 0 {
		t.Errorf("write: %v allocations per message", n)
	}
}

var _ net.Conn = (*wsConn)(nil)
