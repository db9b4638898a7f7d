package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// collector records the packets readLoop hands it.
type collector struct {
	types    []packet.Type
	payloads [][]byte
	flushes  int
}

func (c *collector) packet(t packet.Type, flags byte, body []byte) error {
	c.types = append(c.types, t)
	if t == packet.PUBLISH {
		var p packet.Publish
		if err := packet.DecodePublish(packet.V311, flags, body, &p); err != nil {
			return err
		}
		c.payloads = append(c.payloads, bytes.Clone(p.Payload))
	}
	return nil
}

func (c *collector) flush() error { c.flushes++; return nil }

func TestReadLoopSplitsAndGrows(t *testing.T) {
	// Packets of every size class, one larger than the read buffer, read
	// one byte at a time and in odd chunks: every packet arrives whole.
	var stream []byte
	var want [][]byte
	for _, size := range []int{16, 1, 200, 5000, 127, 128, 16384, 3} {
		payload := bytes.Repeat([]byte{byte(size)}, size)
		want = append(want, payload)
		stream = packet.AppendPublish(stream, packet.V311, &packet.Publish{QoS: 1, PacketID: 9, Topic: []byte("a/b"), Payload: payload})
		stream = packet.AppendAck(stream, packet.V311, &packet.Ack{Type: packet.PUBACK, PacketID: 3})
	}
	for _, r := range []struct {
		name string
		r    io.Reader
	}{
		{"one byte", iotest.OneByteReader(bytes.NewReader(stream))},
		{"half buffer", iotest.HalfReader(bytes.NewReader(stream))},
		{"whole", bytes.NewReader(stream)},
	} {
		t.Run(r.name, func(t *testing.T) {
			var c collector
			if err := readLoop(r.r, 1024, &c); err != io.EOF {
				t.Fatalf("readLoop: %v, want EOF", err)
			}
			if len(c.payloads) != len(want) || len(c.types) != 2*len(want) {
				t.Fatalf("got %d publishes, %d packets; want %d, %d", len(c.payloads), len(c.types), len(want), 2*len(want))
			}
			for i := range want {
				if !bytes.Equal(c.payloads[i], want[i]) {
					t.Fatalf("publish %d: payload of %d bytes differs", i, len(want[i]))
				}
				if c.types[2*i+1] != packet.PUBACK {
					t.Fatalf("packet %d: %v, want PUBACK", 2*i+1, c.types[2*i+1])
				}
			}
			if c.flushes == 0 {
				t.Error("flush never called")
			}
		})
	}
}

func TestReadLoopMalformed(t *testing.T) {
	var c collector
	err := readLoop(bytes.NewReader([]byte{0x00, 0x00}), 64, &c)
	if !errors.Is(err, packet.MalformedPacket) {
		t.Fatalf("readLoop: %v, want MalformedPacket", err)
	}
}

// nullConn is a net.Conn that discards writes.
type nullConn struct{ net.Conn }

func (nullConn) Write(b []byte) (int, error)      { return len(b), nil }
func (nullConn) Close() error                     { return nil }
func (nullConn) SetDeadline(time.Time) error      { return nil }
func (nullConn) SetWriteDeadline(time.Time) error { return nil }
func (nullConn) SetReadDeadline(time.Time) error  { return nil }
func (nullConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (nullConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (nullConn) Read(b []byte) (int, error)       { return 0, io.EOF }

// The hot paths allocate nothing per message once warm.
func TestNoAllocsPerMessage(t *testing.T) {
	r := &runner{cfg: config{qos: 1, version: packet.V311}, epoch: time.Now(), stop: make(chan struct{})}
	r.measuring.Store(true)
	mc := &mqttConn{Conn: nullConn{}, v: packet.V311, recvMax: 65535}
	sub := &subscriber{r: r, mc: mc, streams: make([]stream, 1)}
	w := &writer{r: r, wake: make(chan struct{}, 1), maxBatch: 64, payload: make([]byte, 16)}
	w.pkt.QoS = 1
	w.pkt.Payload = w.payload
	p := &publisher{mc: mc, topic: []byte("mb/x/0"), streams: []*stream{&sub.streams[0]}, window: 100, inflight: 100, w: w}
	sub.wakes = []chan struct{}{w.wake}

	var msg []byte
	var seq uint32
	next := func() []byte {
		payload := make([]byte, 16)
		putHeader(payload, 0, seq, int64(time.Since(r.epoch)))
		seq++
		msg = packet.AppendPublish(msg[:0], packet.V311, &packet.Publish{QoS: 1, PacketID: uint16(seq%65535) + 1, Topic: p.topic, Payload: payload})
		return msg[2:] // the body: the fixed header is 2 bytes here
	}
	flags := byte(1 << 1) // QoS 1
	for range 100 {       // warm up buffers
		if err := sub.packet(packet.PUBLISH, flags, next()); err != nil {
			t.Fatal(err)
		}
		sub.flush()
	}
	body := next()
	if n := testing.AllocsPerRun(1000, func() {
		sub.packet(packet.PUBLISH, flags, body)
		sub.flush()
	}); n != 0 {
		t.Errorf("subscriber: %v allocations per message", n)
	}
	w.write(p, packet.V311, 64)
	if n := testing.AllocsPerRun(100, func() { w.write(p, packet.V311, 64) }); n != 0 {
		t.Errorf("writer: %v allocations per batch", n)
	}
	pr := &pubReader{p: p}
	ack := packet.AppendAck(nil, packet.V311, &packet.Ack{Type: packet.PUBACK, PacketID: 1})
	if n := testing.AllocsPerRun(1000, func() {
		pr.packet(packet.PUBACK, 0, ack[2:])
		pr.flush()
	}); n != 0 {
		t.Errorf("publisher reader: %v allocations per ack", n)
	}
}

// The publisher's credit follows its slowest subscriber stream.
func TestPublisherCreditSlowestStream(t *testing.T) {
	var a, b stream
	p := &publisher{streams: []*stream{&a, &b}, window: 10, inflight: 1000}
	p.sent.Store(10)
	a.progress.Store(10)
	b.progress.Store(4)
	if c, out := p.credit(0); c != 4 || !out {
		t.Fatalf("credit = %d, %v; want 4, true", c, out)
	}
	b.progress.Store(10)
	if c, out := p.credit(0); c != 10 || out {
		t.Fatalf("credit = %d, %v; want 10, false", c, out)
	}
	p.base.Store(20) // a QoS 0 stall gave up to 20
	p.sent.Store(20)
	if c, out := p.credit(0); c != 10 || out {
		t.Fatalf("after a stall: credit = %d, %v; want 10, false", c, out)
	}
}
