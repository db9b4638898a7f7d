package broker_test

import (
	"math/rand/v2"
	"net"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// badAfterConnect sends raw bytes on a connected client and expects the
// connection to be closed, on v5 with DISCONNECT rc.
func badAfterConnect(t *testing.T, addr string, v packet.Version, raw []byte, rc packet.ReasonCode) {
	t.Helper()
	c, _ := client(t, addr, v, vid("bad", v), true)
	c.SendRaw(raw)
	c.ExpectDisconnect(rc)
}

// The same, for every read mode.
func badAfterConnectModes(t *testing.T, addrs []string, v packet.Version, raw []byte, rc packet.ReasonCode) {
	t.Helper()
	for _, addr := range addrs {
		badAfterConnect(t, addr, v, raw, rc)
	}
}

// publishRaw builds a PUBLISH: first byte, topic bytes, optional packet id,
// v5 property bytes, payload.
func publishRaw(v packet.Version, first byte, topic []byte, pid []byte, props []byte, payload string) []byte {
	body := append([]byte{byte(len(topic) >> 8), byte(len(topic))}, topic...)
	body = append(body, pid...)
	if v == packet.V5 {
		body = append(body, byte(len(props)))
		body = append(body, props...)
	}
	body = append(body, payload...)
	return append([]byte{first, byte(len(body))}, body...)
}

// Malformed packets close the connection with the right v5 reason code
// [MQTT-4.13.1]: malformed remaining length [MQTT-1.5.5-1], reserved flags
// [MQTT-2.1.3-1], ill-formed UTF-8 [MQTT-1.5.4-1], U+0000 [MQTT-1.5.4-2],
// QoS 3 [MQTT-3.3.1-4], unknown property ids, truncated fields.
func TestBadInputMalformed(t *testing.T) {
	var addrs []string
	for _, mode := range readModes {
		_, addr := start(t, broker.Options{DisableNetpoll: mode.noNetpoll})
		addrs = append(addrs, addr)
	}
	cases := []struct {
		name string
		raw  func(v packet.Version) []byte
		rc   packet.ReasonCode
	}{
		{"remaining length of 5 bytes", func(packet.Version) []byte { return []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01} }, packet.MalformedPacket},
		{"reserved packet type 0", func(packet.Version) []byte { return []byte{0x00, 0x00} }, packet.MalformedPacket},
		{"SUBSCRIBE flags 0", func(packet.Version) []byte { return []byte{0x80, 0x06, 0, 1, 0, 1, 'a', 0} }, packet.MalformedPacket},
		{"UNSUBSCRIBE flags 0", func(packet.Version) []byte { return []byte{0xA0, 0x05, 0, 1, 0, 1, 'a'} }, packet.MalformedPacket},
		{"PUBREL flags 0", func(packet.Version) []byte { return []byte{0x60, 0x02, 0, 1} }, packet.MalformedPacket},
		{"PUBACK flags 2", func(packet.Version) []byte { return []byte{0x42, 0x02, 0, 1} }, packet.MalformedPacket},
		{"PINGREQ flags 1", func(packet.Version) []byte { return []byte{0xC1, 0x00} }, packet.MalformedPacket},
		{"PINGREQ with a body", func(packet.Version) []byte { return []byte{0xC0, 0x01, 0} }, packet.MalformedPacket},
		{"DISCONNECT flags 1", func(packet.Version) []byte { return []byte{0xE1, 0x00} }, packet.MalformedPacket},
		{"QoS 3", func(v packet.Version) []byte { return publishRaw(v, 0x36, []byte("a"), []byte{0, 1}, nil, "x") }, packet.MalformedPacket},
		{"DUP at QoS 0", func(v packet.Version) []byte { return publishRaw(v, 0x38, []byte("a"), nil, nil, "x") }, packet.MalformedPacket},
		{"topic not UTF-8", func(v packet.Version) []byte { return publishRaw(v, 0x30, []byte{'a', 0xff}, nil, nil, "x") }, packet.MalformedPacket},
		{"topic overlong UTF-8", func(v packet.Version) []byte { return publishRaw(v, 0x30, []byte{0xc0, 0xaf}, nil, nil, "x") }, packet.MalformedPacket},
		{"topic with U+0000", func(v packet.Version) []byte { return publishRaw(v, 0x30, []byte{'a', 0, 'b'}, nil, nil, "x") }, packet.MalformedPacket},
		{"topic longer than the packet", func(packet.Version) []byte { return []byte{0x30, 0x03, 0, 9, 'a'} }, packet.MalformedPacket},
		{"SUBSCRIBE option reserved bits", func(packet.Version) []byte { return []byte{0x82, 0x06, 0, 1, 0, 1, 'a', 0xc0} }, packet.MalformedPacket},
		// v5 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has
		// the value 3" (3.1.1: malformed, [MQTT-3.8.3-4]).
		{"SUBSCRIBE QoS 3", func(packet.Version) []byte { return []byte{0x82, 0x06, 0, 1, 0, 1, 'a', 3} }, packet.ProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []packet.Version{packet.V311, packet.V5} {
				rc := tc.rc // v3 closes silently, whatever the code
				raw := tc.raw(v)
				if v == packet.V5 && raw[0]&0xf0 == 0x80 {
					// SUBSCRIBE / UNSUBSCRIBE: insert an empty property length.
					raw = append([]byte{raw[0], raw[1] + 1, raw[2], raw[3], 0}, raw[4:]...)
				}
				if v == packet.V5 && raw[0]&0xf0 == 0xA0 {
					raw = append([]byte{raw[0], raw[1] + 1, raw[2], raw[3], 0}, raw[4:]...)
				}
				badAfterConnectModes(t, addrs, v, raw, rc)
			}
		})
	}
}

// v5 only: unknown or misplaced properties and retain handling 3 are
// malformed.
func TestBadInputV5Properties(t *testing.T) {
	_, addr := start(t, broker.Options{})
	for name, raw := range map[string][]byte{
		"unknown property id":         publishRaw(packet.V5, 0x30, []byte("a"), nil, []byte{0x7f, 0}, "x"),
		"session expiry in PUBLISH":   publishRaw(packet.V5, 0x30, []byte("a"), nil, []byte{0x11, 0, 0, 0, 1}, "x"),
		"property length beyond body": publishRaw(packet.V5, 0x30, []byte("a"), nil, []byte{0x01}, "")[:6],
	} {
		t.Run(name, func(t *testing.T) {
			if name == "property length beyond body" {
				raw = []byte{0x30, 0x05, 0, 1, 'a', 0x09, 0x01}
			}
			badAfterConnect(t, addr, packet.V5, raw, packet.MalformedPacket)
		})
	}
	// v5 §3.8.3.1: "It is a Protocol Error to send a Retain Handling value
	// of 3". The codec reports it as Malformed Packet (0x81); both close
	// the connection, so either code is accepted here.
	c, _ := client(t, addr, packet.V5, "rh3", true)
	c.SendRaw([]byte{0x82, 0x07, 0, 1, 0, 0, 1, 'a', 0x30})
	got := c.ExpectClosed()
	if len(got) != 1 {
		t.Fatalf("retain handling 3: got %v", got)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || (d.ReasonCode != packet.ProtocolError && d.ReasonCode != packet.MalformedPacket) {
		t.Fatalf("retain handling 3: got %s", mqtttest.Describe(got[0]))
	}
}

// Packet-id misuse: a QoS > 0 PUBLISH or a SUBSCRIBE with id 0 closes the
// connection [MQTT-2.2.1-3]; acknowledgements for ids not in flight are
// answered (PUBREL → PUBCOMP 0x92 on v5) or ignored, never fatal.
func TestBadInputPacketIDs(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		var rc packet.ReasonCode = packet.ProtocolError
		badAfterConnect(t, addr, v, publishRaw(v, 0x32, []byte("a"), []byte{0, 0}, nil, "x"), rc)
		sub := []byte{0x82, 0x06, 0, 0, 0, 1, 'a', 0}
		if v == packet.V5 {
			sub = []byte{0x82, 0x07, 0, 0, 0, 0, 1, 'a', 0}
		}
		c, _ := client(t, addr, v, vid("ids", v), true)
		c.SendRaw(sub)
		for _, p := range c.ExpectClosed() {
			if d, ok := p.(*packet.Disconnect); !ok || (d.ReasonCode != packet.MalformedPacket && d.ReasonCode != packet.ProtocolError) {
				t.Fatalf("SUBSCRIBE id 0: got %s", mqtttest.Describe(p))
			}
		}

		c, _ = client(t, addr, v, vid("ids", v), true)
		c.Send(&packet.Ack{Type: packet.PUBACK, PacketID: 4242})
		c.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: 4242})
		c.Send(&packet.Ack{Type: packet.PUBREC, PacketID: 4242})
		if v == packet.V5 {
			if rel := c.ExpectAck(packet.PUBREL, 4242); rel.ReasonCode != packet.PacketIdentifierNotFound {
				t.Fatalf("PUBREL rc %v", rel.ReasonCode)
			}
		}
		c.Send(&packet.Ack{Type: packet.PUBREL, PacketID: 4242})
		comp := c.ExpectAck(packet.PUBCOMP, 4242)
		if v == packet.V5 && comp.ReasonCode != packet.PacketIdentifierNotFound {
			t.Fatalf("PUBCOMP rc %v", comp.ReasonCode)
		}
		c.ExpectNone()
	})
}

// Packets only a server sends are a protocol error from a client.
func TestBadInputServerPackets(t *testing.T) {
	_, addr := start(t, broker.Options{})
	for name, raw := range map[string][]byte{
		"CONNACK":  {0x20, 0x03, 0, 0, 0},
		"SUBACK":   {0x90, 0x04, 0, 1, 0, 0},
		"UNSUBACK": {0xB0, 0x04, 0, 1, 0, 0},
		"PINGRESP": {0xD0, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			badAfterConnect(t, addr, packet.V5, raw, packet.ProtocolError)
			c, _ := client(t, addr, packet.V311, "v3", true)
			c.SendRaw(raw)
			c.ExpectClosed()
		})
	}
	// AUTH does not exist before v5.
	c, _ := client(t, addr, packet.V311, "v3", true)
	c.SendRaw([]byte{0xF0, 0x00})
	c.ExpectDisconnect(0)
}

// Bad CONNECTs: reserved flag [MQTT-3.1.2-3], will QoS or retain without
// the will flag [MQTT-3.1.2-11], [MQTT-3.1.2-13], password without user
// name on 3.1.1 [MQTT-3.1.2-22], will QoS 3 [MQTT-3.1.2-12], truncated
// payload. Never accepted; any answer is a refusing CONNACK.
func TestBadInputConnect(t *testing.T) {
	_, addr := start(t, broker.Options{})
	base := func(v packet.Version) []byte {
		return rawConnect(&packet.Connect{Version: v, ClientID: []byte("c"), CleanStart: true})
	}
	// Offset of the connect flags byte: fixed header 2, name 2+4 (or 2+6
	// for MQIsdp), level 1.
	flagsAt := func(v packet.Version) int {
		if v == packet.V31 {
			return 2 + 8 + 1
		}
		return 2 + 6 + 1
	}
	for name, mod := range map[string]func(v packet.Version, b []byte) []byte{
		"reserved flag":              func(v packet.Version, b []byte) []byte { b[flagsAt(v)] |= 0x01; return b },
		"will QoS without will":      func(v packet.Version, b []byte) []byte { b[flagsAt(v)] |= 0x08; return b },
		"will retain without will":   func(v packet.Version, b []byte) []byte { b[flagsAt(v)] |= 0x20; return b },
		"password without user name": func(v packet.Version, b []byte) []byte { b[flagsAt(v)] |= 0x40; return append(b[:len(b):len(b)], 0, 0) },
		"truncated":                  func(v packet.Version, b []byte) []byte { b[1] -= 2; return b[:len(b)-2] },
		"client id not UTF-8":        func(v packet.Version, b []byte) []byte { b[len(b)-1] = 0xff; return b },
	} {
		t.Run(name, func(t *testing.T) {
			for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
				if name == "password without user name" && v != packet.V311 {
					continue // allowed on v5, length-prefixed garbage on 3.1
				}
				c := dialRaw(t, addr, v)
				c.SendRaw(mod(v, base(v)))
				for _, p := range c.ExpectClosed() {
					if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode == packet.Success {
						t.Fatalf("v%d: got %s", v, mqtttest.Describe(p))
					}
				}
			}
		})
	}
	// Will QoS 3 with the will flag.
	c := dialRaw(t, addr, packet.V311)
	b := rawConnect(&packet.Connect{Version: packet.V311, ClientID: []byte("c"), CleanStart: true, WillFlag: true, WillTopic: []byte("w"), WillPayload: []byte("x")})
	b[2+6+1] |= 0x18
	c.SendRaw(b)
	for _, p := range c.ExpectClosed() {
		if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode == packet.Success {
			t.Fatalf("got %s", mqtttest.Describe(p))
		}
	}
}

// An empty SUBSCRIBE or UNSUBSCRIBE is a protocol violation
// [MQTT-3.8.3-3], [MQTT-3.10.3-2].
func TestBadInputEmptySubscribe(t *testing.T) {
	_, addr := start(t, broker.Options{})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for _, raw := range [][]byte{{0x82, 0x02, 0, 1}, {0xA2, 0x02, 0, 1}} {
			if v == packet.V5 {
				raw = []byte{raw[0], 0x03, 0, 1, 0}
			}
			c, _ := client(t, addr, v, "c", true)
			c.SendRaw(raw)
			for _, p := range c.ExpectClosed() {
				if d, ok := p.(*packet.Disconnect); !ok || (d.ReasonCode != packet.ProtocolError && d.ReasonCode != packet.MalformedPacket) {
					t.Fatalf("got %s", mqtttest.Describe(p))
				}
			}
		}
	}
}

// Garbage never panics or hangs the broker: random bytes after a CONNECT
// and a half-close end with the connection closed, and the broker keeps
// serving.
func TestBadInputGarbage(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) { testGarbage(t, mode.noNetpoll) })
	}
}

func testGarbage(t *testing.T, noNetpoll bool) {
	srv, addr := start(t, broker.Options{MaxPacketSize: 1 << 16, DisableNetpoll: noNetpoll})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		v := []packet.Version{packet.V31, packet.V311, packet.V5}[i%3]
		c := dialRaw(t, addr, v)
		if i%4 != 0 {
			c.Connect(&packet.Connect{ClientID: []byte("g"), CleanStart: true})
		}
		junk := make([]byte, 1+rng.IntN(64))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		if i%5 == 0 {
			junk[0] = byte(rng.IntN(16)) << 4 // a plausible type
		}
		c.Conn.Write(junk)
		c.Conn.(*net.TCPConn).CloseWrite()
		c.ExpectClosed()
	}
	mqtttest.Eventually(t, "every connection to end", func() bool { return srv.Stats().Connections == 0 })
	c, _ := client(t, addr, packet.V5, "alive", true)
	c.Subscribe(1, 1, "still")
	c.Publish("still", 0, false, "here", 0)
	c.ExpectPublish("still", "here")
}

// A partial packet followed by EOF ends the connection (and publishes the
// will: it was not a DISCONNECT).
func TestBadInputTruncatedThenEOF(t *testing.T) {
	for _, mode := range readModes {
		_, addr := start(t, broker.Options{DisableNetpoll: mode.noNetpoll})
		s, _ := client(t, addr, packet.V311, "s", true)
		s.Subscribe(1, 1, "tw")
		c, _ := client(t, addr, packet.V311, "c", true, withWill("tw", "cut", 1, false))
		c.SendRaw([]byte{0x30, 0x10, 0, 2})
		c.Conn.(*net.TCPConn).CloseWrite()
		c.ExpectClosed()
		recv(t, s, "tw", "cut")
	}
}

// A Subscription Identifier of 0 is a protocol error [MQTT-3.8.2.1.2].
func TestBadInputSubscriptionIDZero(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", true)
	// SUBSCRIBE id 1, properties: 0x0B (subscription identifier) 0x00.
	c.SendRaw([]byte{0x82, 0x09, 0, 1, 2, 0x0B, 0x00, 0, 1, 'a', 0})
	got := c.ExpectClosed()
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || (d.ReasonCode != packet.ProtocolError && d.ReasonCode != packet.MalformedPacket) {
		t.Fatalf("got %s", mqtttest.Describe(got[0]))
	}
}
