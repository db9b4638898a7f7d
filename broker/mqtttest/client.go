// Package mqtttest is a raw-protocol MQTT client for tests: it sends exactly
// the packets a test builds and returns exactly the packets the broker
// sends, so tests can check the protocol byte for byte, including what a
// well-behaved client library would never do.
package mqtttest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// DefaultTimeout bounds every wait for a packet.
var DefaultTimeout = 10 * time.Second

// Conn is one raw MQTT connection.
type Conn struct {
	t       testing.TB
	Conn    net.Conn
	Version packet.Version
	r       *bufio.Reader
}

// Dial opens a TCP connection to addr.
func Dial(t testing.TB, addr string, v packet.Version) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, DefaultTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return Wrap(t, nc, v)
}

// Wrap makes a Conn of an existing connection (TLS, WebSocket, ...).
func Wrap(t testing.TB, nc net.Conn, v packet.Version) *Conn {
	c := &Conn{t: t, Conn: nc, Version: v, r: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	return c
}

// Send encodes and writes one packet (see packet.AppendPacket).
func (c *Conn) Send(pkt any) {
	c.t.Helper()
	b, err := packet.AppendPacket(nil, c.Version, pkt)
	if err != nil {
		c.t.Fatalf("encode %T: %v", pkt, err)
	}
	c.SendRaw(b)
}

// SendRaw writes bytes as they are.
func (c *Conn) SendRaw(b []byte) {
	c.t.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Read returns the next packet, or an error (io.EOF when the broker closed
// the connection) within the timeout.
func (c *Conn) Read(timeout time.Duration) (any, error) {
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	return packet.ReadPacket(c.r, c.Version, 1<<28)
}

// Next returns the next packet or fails the test.
func (c *Conn) Next() any {
	c.t.Helper()
	p, err := c.Read(DefaultTimeout)
	if err != nil {
		c.t.Fatalf("waiting for a packet: %v", err)
	}
	return p
}

// Expect returns the next packet, failing the test unless it has type T.
func Expect[T any](c *Conn) T {
	c.t.Helper()
	p := c.Next()
	v, ok := p.(T)
	if !ok {
		var zero T
		c.t.Fatalf("expected %T, got %s", zero, Describe(p))
	}
	return v
}

// ExpectClosed waits until the broker closes the connection, returning the
// packets it sent before (usually a DISCONNECT or CONNACK).
func (c *Conn) ExpectClosed() []any {
	c.t.Helper()
	var got []any
	for {
		p, err := c.Read(DefaultTimeout)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open after %v; got %s", DefaultTimeout, describeAll(got))
			}
			return got
		}
		got = append(got, p)
	}
}

// ExpectNothing checks that no packet arrives within d.
func (c *Conn) ExpectNothing(d time.Duration) {
	c.t.Helper()
	p, err := c.Read(d)
	if err == nil {
		c.t.Fatalf("expected nothing, got %s", Describe(p))
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("expected nothing, connection failed: %v", err)
	}
}

// Connect sends a CONNECT and returns the CONNACK, failing unless it is a
// success.
func (c *Conn) Connect(cp *packet.Connect) *packet.Connack {
	c.t.Helper()
	if cp.Version == 0 {
		cp.Version = c.Version
	}
	if cp.ProtocolName == nil {
		cp.ProtocolName = []byte("MQTT")
		if cp.Version == packet.V31 {
			cp.ProtocolName = []byte("MQIsdp")
		}
	}
	c.Send(cp)
	ack := Expect[*packet.Connack](c)
	if ack.ReasonCode != packet.Success {
		c.t.Fatalf("CONNACK refused: %v", ack.ReasonCode)
	}
	return ack
}

// Subscribe subscribes to filters at qos and returns the SUBACK codes.
func (c *Conn) Subscribe(pid uint16, qos byte, filters ...string) []packet.ReasonCode {
	c.t.Helper()
	s := &packet.Subscribe{PacketID: pid}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: []byte(f), QoS: qos})
	}
	c.Send(s)
	ack := Expect[*packet.Suback](c)
	if ack.PacketID != pid {
		c.t.Fatalf("SUBACK for %d, want %d", ack.PacketID, pid)
	}
	return ack.ReasonCodes
}

// Publish sends a PUBLISH and completes its QoS flow, returning the
// reason code of the PUBACK / PUBREC (Success on v3).
func (c *Conn) Publish(topic string, qos byte, retain bool, payload string, pid uint16) packet.ReasonCode {
	c.t.Helper()
	c.Send(&packet.Publish{Topic: []byte(topic), QoS: qos, Retain: retain, Payload: []byte(payload), PacketID: pid})
	switch qos {
	case 1:
		a := Expect[*packet.Ack](c)
		if a.Type != packet.PUBACK || a.PacketID != pid {
			c.t.Fatalf("expected PUBACK %d, got %s", pid, Describe(a))
		}
		return a.ReasonCode
	case 2:
		a := Expect[*packet.Ack](c)
		if a.Type != packet.PUBREC || a.PacketID != pid {
			c.t.Fatalf("expected PUBREC %d, got %s", pid, Describe(a))
		}
		if a.ReasonCode.IsError() {
			return a.ReasonCode
		}
		c.Send(&packet.Ack{Type: packet.PUBREL, PacketID: pid})
		comp := Expect[*packet.Ack](c)
		if comp.Type != packet.PUBCOMP || comp.PacketID != pid {
			c.t.Fatalf("expected PUBCOMP %d, got %s", pid, Describe(comp))
		}
		return a.ReasonCode
	}
	return packet.Success
}

// ExpectPublish waits for a PUBLISH on topic with payload and returns it.
func (c *Conn) ExpectPublish(topic, payload string) *packet.Publish {
	c.t.Helper()
	p := Expect[*packet.Publish](c)
	if string(p.Topic) != topic || string(p.Payload) != payload {
		c.t.Fatalf("expected PUBLISH %q %q, got %s", topic, payload, Describe(p))
	}
	return p
}

// Ack acknowledges a received PUBLISH (PUBACK, or PUBREC/PUBREL/PUBCOMP).
func (c *Conn) Ack(p *packet.Publish) {
	c.t.Helper()
	switch p.QoS {
	case 1:
		c.Send(&packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID})
	case 2:
		c.Send(&packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID})
		rel := Expect[*packet.Ack](c)
		if rel.Type != packet.PUBREL || rel.PacketID != p.PacketID {
			c.t.Fatalf("expected PUBREL %d, got %s", p.PacketID, Describe(rel))
		}
		c.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: p.PacketID})
	}
}

// Describe renders a packet for failure messages.
func Describe(p any) string {
	switch v := p.(type) {
	case *packet.Publish:
		return fmt.Sprintf("PUBLISH{topic=%q qos=%d retain=%v dup=%v id=%d payload=%q props=%+v}",
			v.Topic, v.QoS, v.Retain, v.Dup, v.PacketID, v.Payload, v.Properties)
	case *packet.Ack:
		return fmt.Sprintf("%v{id=%d rc=%#x}", v.Type, v.PacketID, byte(v.ReasonCode))
	case *packet.Connack:
		return fmt.Sprintf("CONNACK{present=%v rc=%#x props=%+v}", v.SessionPresent, byte(v.ReasonCode), v.Properties)
	case *packet.Disconnect:
		return fmt.Sprintf("DISCONNECT{rc=%#x reason=%q}", byte(v.ReasonCode), v.Properties.ReasonString)
	case *packet.Suback:
		return fmt.Sprintf("SUBACK{id=%d codes=%v}", v.PacketID, v.ReasonCodes)
	default:
		return fmt.Sprintf("%T%+v", p, p)
	}
}

func describeAll(ps []any) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = Describe(p)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// Eventually polls cond every few milliseconds until it holds or the
// timeout passes; tests wait with it instead of sleeping.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(DefaultTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TryConnect sends a CONNECT and returns the CONNACK whatever its code.
func (c *Conn) TryConnect(cp *packet.Connect) *packet.Connack {
	c.t.Helper()
	if cp.Version == 0 {
		cp.Version = c.Version
	}
	c.Send(cp)
	return Expect[*packet.Connack](c)
}

// Sync sends a PINGREQ and returns every packet that arrived before its
// PINGRESP. The broker handles one connection's packets in order, so
// whatever an earlier packet of this connection caused (retained messages
// for a SUBSCRIBE, say) has been queued by then; and a message another
// connection published with QoS > 0 is queued to this one before that
// publisher gets its acknowledgement. Sync thus checks "nothing arrived"
// without waiting for a fixed time.
func (c *Conn) Sync() []any {
	c.t.Helper()
	c.SendRaw(packet.AppendPingreq(nil))
	var got []any
	for {
		p := c.Next()
		if t, ok := p.(packet.Type); ok && t == packet.PINGRESP {
			return got
		}
		got = append(got, p)
	}
}

// ExpectNone fails the test if any packet arrives before the PINGRESP of a
// Sync.
func (c *Conn) ExpectNone() {
	c.t.Helper()
	if got := c.Sync(); len(got) > 0 {
		c.t.Fatalf("expected nothing, got %s", describeAll(got))
	}
}

// ExpectDisconnect waits until the broker closes the connection. On v5 the
// last packet before the close must be a DISCONNECT with reason rc, which
// it returns; on v3 nothing may be sent before the close, and it returns
// nil.
func (c *Conn) ExpectDisconnect(rc packet.ReasonCode) *packet.Disconnect {
	c.t.Helper()
	got := c.ExpectClosed()
	if c.Version != packet.V5 {
		if len(got) > 0 {
			c.t.Fatalf("expected a silent close, got %s", describeAll(got))
		}
		return nil
	}
	if len(got) == 0 {
		c.t.Fatalf("closed without DISCONNECT %#x", byte(rc))
	}
	d, ok := got[len(got)-1].(*packet.Disconnect)
	if !ok || d.ReasonCode != rc {
		c.t.Fatalf("expected DISCONNECT %#x (%v), got %s", byte(rc), rc, describeAll(got))
	}
	return d
}

// SubscribeWith sends s and returns its SUBACK.
func (c *Conn) SubscribeWith(s *packet.Subscribe) *packet.Suback {
	c.t.Helper()
	c.Send(s)
	ack := Expect[*packet.Suback](c)
	if ack.PacketID != s.PacketID {
		c.t.Fatalf("SUBACK for %d, want %d", ack.PacketID, s.PacketID)
	}
	return ack
}

// ExpectAck returns the next packet, failing unless it is an
// acknowledgement of type t for packet id pid.
func (c *Conn) ExpectAck(t packet.Type, pid uint16) *packet.Ack {
	c.t.Helper()
	a := Expect[*packet.Ack](c)
	if a.Type != t || a.PacketID != pid {
		c.t.Fatalf("expected %v %d, got %s", t, pid, Describe(a))
	}
	return a
}

// ReadPublish returns the next PUBLISH, acknowledging what arrives on the
// way as a well-behaved client would: PUBACK for QoS 1, PUBREC for QoS 2,
// PUBCOMP for every PUBREL. It does not fail the test, so it may run on any
// goroutine; other packets are an error.
func (c *Conn) ReadPublish(timeout time.Duration) (*packet.Publish, error) {
	for {
		p, err := c.Read(timeout)
		if err != nil {
			return nil, err
		}
		var ack *packet.Ack
		var pub *packet.Publish
		switch v := p.(type) {
		case *packet.Publish:
			pub = v
			switch v.QoS {
			case 1:
				ack = &packet.Ack{Type: packet.PUBACK, PacketID: v.PacketID}
			case 2:
				ack = &packet.Ack{Type: packet.PUBREC, PacketID: v.PacketID}
			}
		case *packet.Ack:
			if v.Type != packet.PUBREL {
				return nil, fmt.Errorf("unexpected %s", Describe(p))
			}
			ack = &packet.Ack{Type: packet.PUBCOMP, PacketID: v.PacketID}
		default:
			return nil, fmt.Errorf("unexpected %s", Describe(p))
		}
		if ack != nil {
			c.Conn.SetWriteDeadline(time.Now().Add(DefaultTimeout))
			if _, err := c.Conn.Write(packet.AppendAck(nil, c.Version, ack)); err != nil {
				return nil, err
			}
		}
		if pub != nil {
			return pub, nil
		}
	}
}

// PublishE is Publish for other goroutines: it returns an error instead of
// failing the test. The connection must receive nothing but the acks.
func (c *Conn) PublishE(topic string, qos byte, payload string, pid uint16) error {
	write := func(b []byte) error {
		c.Conn.SetWriteDeadline(time.Now().Add(DefaultTimeout))
		_, err := c.Conn.Write(b)
		return err
	}
	expect := func(t packet.Type) error {
		p, err := c.Read(DefaultTimeout)
		if err != nil {
			return err
		}
		if a, ok := p.(*packet.Ack); !ok || a.Type != t || a.PacketID != pid {
			return fmt.Errorf("expected %v %d, got %s", t, pid, Describe(p))
		}
		return nil
	}
	if err := write(packet.AppendPublish(nil, c.Version, &packet.Publish{Topic: []byte(topic), QoS: qos, PacketID: pid, Payload: []byte(payload)})); err != nil {
		return err
	}
	switch qos {
	case 1:
		return expect(packet.PUBACK)
	case 2:
		if err := expect(packet.PUBREC); err != nil {
			return err
		}
		if err := write(packet.AppendAck(nil, c.Version, &packet.Ack{Type: packet.PUBREL, PacketID: pid})); err != nil {
			return err
		}
		return expect(packet.PUBCOMP)
	}
	return nil
}
