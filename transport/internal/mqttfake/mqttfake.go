// Package mqttfake is a tiny MQTT 3.1.1 broker for the transport tests,
// standing in for the core until it lands: CONNECT/CONNACK, SUBSCRIBE with
// wildcards, PUBLISH at QoS 0/1/2 both ways, retained messages, PINGREQ,
// UNSUBSCRIBE, DISCONNECT. No sessions, no auth, no will: just enough for
// real clients (paho, python-socketio, the browser page) to talk.
package mqttfake

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
)

// Broker routes publishes between the conns it serves.
type Broker struct {
	mu       sync.Mutex
	clients  map[*client]struct{}
	retained map[string]message
	conns    int // conns ever served
}

type message struct {
	topic   string
	payload []byte
	qos     byte
}

type client struct {
	c    net.Conn
	wmu  sync.Mutex
	subs map[string]byte // filter → granted QoS; guarded by Broker.mu
	pid  uint16          // last packet id we used; guarded by Broker.mu
}

// New returns an empty broker.
func New() *Broker {
	return &Broker{clients: map[*client]struct{}{}, retained: map[string]message{}}
}

// Serve accepts conns from l until it fails, serving each on its own
// goroutine.
func (b *Broker) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go b.ServeConn(c)
	}
}

// Served is the number of conns the broker has served.
func (b *Broker) Served() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns
}

// ServeConn serves one conn until it fails or the client disconnects.
func (b *Broker) ServeConn(c net.Conn) {
	cl := &client{c: c, subs: map[string]byte{}}
	b.mu.Lock()
	b.clients[cl] = struct{}{}
	b.conns++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.clients, cl)
		b.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		typ, body, err := ReadPacket(r)
		if err != nil {
			return
		}
		switch typ >> 4 {
		case 1: // CONNECT
			cl.write([]byte{0x20, 2, 0, 0})
		case 3: // PUBLISH
			b.publish(cl, typ, body)
		case 4, 7: // PUBACK, PUBCOMP: our deliveries are done
		case 5: // PUBREC → PUBREL
			cl.write(append([]byte{0x62, 2}, body[:2]...))
		case 6: // PUBREL → PUBCOMP
			cl.write(append([]byte{0x70, 2}, body[:2]...))
		case 8: // SUBSCRIBE
			b.subscribe(cl, body)
		case 10: // UNSUBSCRIBE
			for rest := body[2:]; len(rest) >= 2; {
				f, n := str(rest)
				b.mu.Lock()
				delete(cl.subs, f)
				b.mu.Unlock()
				rest = rest[n:]
			}
			cl.write(append([]byte{0xb0, 2}, body[:2]...))
		case 12: // PINGREQ
			cl.write([]byte{0xd0, 0})
		case 14: // DISCONNECT
			return
		default:
			return
		}
	}
}

// ReadPacket reads one MQTT packet: its first byte and its body.
func ReadPacket(r io.ByteReader) (byte, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; i < 4; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(d&0x7f) << shift
		if d&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	for i := range body {
		if body[i], err = r.ReadByte(); err != nil {
			return 0, nil, err
		}
	}
	return typ, body, nil
}

// Packet encodes an MQTT packet from its first byte and body.
func Packet(typ byte, body []byte) []byte {
	p := []byte{typ}
	n := len(body)
	for {
		d := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			d |= 0x80
		}
		p = append(p, d)
		if n == 0 {
			break
		}
	}
	return append(p, body...)
}

// Publish encodes a PUBLISH (packet id 1 when qos > 0).
func Publish(topic string, payload []byte, qos byte, retain bool, pid uint16) []byte {
	typ := 0x30 | qos<<1
	if retain {
		typ |= 1
	}
	body := binary.BigEndian.AppendUint16(nil, uint16(len(topic)))
	body = append(body, topic...)
	if qos > 0 {
		body = binary.BigEndian.AppendUint16(body, pid)
	}
	return Packet(typ, append(body, payload...))
}

func str(b []byte) (string, int) {
	n := int(binary.BigEndian.Uint16(b))
	return string(b[2 : 2+n]), 2 + n
}

func (cl *client) write(p []byte) {
	cl.wmu.Lock()
	defer cl.wmu.Unlock()
	cl.c.Write(p)
}

func (b *Broker) publish(from *client, typ byte, body []byte) {
	qos, retain := typ>>1&3, typ&1 == 1
	topic, n := str(body)
	if qos > 0 {
		pid := body[n : n+2]
		n += 2
		if qos == 1 {
			from.write(append([]byte{0x40, 2}, pid...))
		} else {
			from.write(append([]byte{0x50, 2}, pid...))
		}
	}
	m := message{topic: topic, payload: body[n:], qos: qos}
	b.mu.Lock()
	if retain {
		if len(m.payload) == 0 {
			delete(b.retained, topic)
		} else {
			b.retained[topic] = m
		}
	}
	var out []func()
	for cl := range b.clients {
		for f, granted := range cl.subs {
			if Match(f, topic) {
				out = append(out, cl.deliver(m, min(granted, qos), false))
				break
			}
		}
	}
	b.mu.Unlock()
	for _, send := range out {
		send()
	}
}

// deliver prepares a PUBLISH for cl; Broker.mu is held, the write happens
// after.
func (cl *client) deliver(m message, qos byte, retain bool) func() {
	cl.pid++
	if cl.pid == 0 {
		cl.pid = 1
	}
	p := Publish(m.topic, m.payload, qos, retain, cl.pid)
	return func() { cl.write(p) }
}

func (b *Broker) subscribe(cl *client, body []byte) {
	ack := append([]byte(nil), body[:2]...)
	var out []func()
	b.mu.Lock()
	for rest := body[2:]; len(rest) >= 3; {
		f, n := str(rest)
		qos := min(rest[n], 2)
		rest = rest[n+1:]
		cl.subs[f] = qos
		ack = append(ack, qos)
		for t, m := range b.retained {
			if Match(f, t) {
				out = append(out, cl.deliver(m, min(qos, m.qos), true))
			}
		}
	}
	b.mu.Unlock()
	cl.write(Packet(0x90, ack))
	for _, send := range out {
		send()
	}
}

// Match reports whether topic matches filter (with + and # wildcards).
func Match(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) || (f != "+" && f != ts[i]) {
			return false
		}
	}
	return len(fs) == len(ts)
}
