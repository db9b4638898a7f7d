package broker_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

func aliased(topic string, alias uint16, payload string) *packet.Publish {
	p := &packet.Publish{Topic: []byte(topic), Payload: []byte(payload)}
	p.Properties.Has = packet.HasTopicAlias
	p.Properties.TopicAlias = alias
	return p
}

// [MQTT-3.3.2-12]: an inbound Topic Alias set with a topic stands for that
// topic in later PUBLISHes with an empty topic; it can be re-mapped.
func TestTopicAliasInbound(t *testing.T) {
	_, addr := start(t, broker.Options{TopicAliasMaximum: 4})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 0, "ta/#")
	p, ack := client(t, addr, packet.V5, "p", true)
	if ack.Properties.TopicAliasMaximum != 4 {
		t.Fatalf("CONNACK topic alias maximum %d", ack.Properties.TopicAliasMaximum)
	}
	p.Send(aliased("ta/one", 1, "a"))
	p.Send(aliased("", 1, "b"))
	p.Send(aliased("ta/two", 4, "c"))
	p.Send(aliased("", 4, "d"))
	p.Send(aliased("ta/three", 1, "e")) // re-map alias 1
	p.Send(aliased("", 1, "f"))
	pq := aliased("", 4, "g")
	pq.QoS, pq.PacketID = 1, 1
	p.Send(pq)
	p.ExpectAck(packet.PUBACK, 1)
	for _, want := range [][2]string{{"ta/one", "a"}, {"ta/one", "b"}, {"ta/two", "c"}, {"ta/two", "d"}, {"ta/three", "e"}, {"ta/three", "f"}, {"ta/two", "g"}} {
		m := s.ExpectPublish(want[0], want[1])
		if m.Properties.Has&packet.HasTopicAlias != 0 {
			t.Fatal("inbound alias forwarded to a client that allows none")
		}
	}
}

// [MQTT-3.3.2-8], [MQTT-3.3.2-9]: alias 0 or above our Topic Alias Maximum
// is DISCONNECT 0x94; v5 §3.3.2.3.4: an empty topic with an alias never set
// is a protocol error (0x82), as is an empty topic without any alias.
func TestTopicAliasInboundInvalid(t *testing.T) {
	_, addr := start(t, broker.Options{TopicAliasMaximum: 4})
	for _, tc := range []struct {
		p  *packet.Publish
		rc packet.ReasonCode
	}{
		{aliased("x", 0, ""), packet.TopicAliasInvalid},
		{aliased("x", 5, ""), packet.TopicAliasInvalid},
		{aliased("", 2, ""), packet.ProtocolError},
		{&packet.Publish{Payload: []byte("no topic, no alias")}, packet.ProtocolError},
	} {
		c, _ := client(t, addr, packet.V5, "c", true)
		c.Send(tc.p)
		c.ExpectDisconnect(tc.rc)
	}
	// TopicAliasMaximum < 0: none allowed at all.
	_, addr = start(t, broker.Options{TopicAliasMaximum: -1})
	c, ack := client(t, addr, packet.V5, "c", true)
	if ack.Properties.Has&packet.HasTopicAliasMaximum != 0 && ack.Properties.TopicAliasMaximum != 0 {
		t.Fatalf("CONNACK topic alias maximum %d", ack.Properties.TopicAliasMaximum)
	}
	c.Send(aliased("x", 1, ""))
	c.ExpectDisconnect(packet.TopicAliasInvalid)
}

// Outbound aliases: when the client's CONNECT allows them, the broker maps
// topics to aliases; a second message on the same topic arrives with an
// empty topic and the alias, and never an alias above the client's maximum
// [MQTT-3.3.2-10].
func TestTopicAliasOutbound(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true, func(cp *packet.Connect) {
		cp.Properties.Has |= packet.HasTopicAliasMaximum
		cp.Properties.TopicAliasMaximum = 2
	})
	s.Subscribe(1, 1, "out/#")
	p, _ := client(t, addr, packet.V5, "p", true)
	aliases := map[uint16]string{}
	for round := range 3 {
		for _, name := range []string{"out/a", "out/b", "out/c"} {
			p.Publish(name, byte(round%2), false, name, 1)
			m := mqtttest.Expect[*packet.Publish](s)
			s.Ack(m)
			topic := string(m.Topic)
			if m.Properties.Has&packet.HasTopicAlias != 0 {
				a := m.Properties.TopicAlias
				if a == 0 || a > 2 {
					t.Fatalf("alias %d beyond the client's maximum 2", a)
				}
				if topic == "" {
					topic = aliases[a]
				} else {
					aliases[a] = topic
				}
				if round > 0 && string(m.Topic) != "" && name != "out/c" {
					t.Fatalf("round %d: %s sent in full again", round, name)
				}
			}
			if topic != name || string(m.Payload) != name {
				t.Fatalf("got %s, want %s", mqtttest.Describe(m), name)
			}
		}
	}
	if len(aliases) != 2 {
		t.Fatalf("aliases %v", aliases)
	}
	// A client that sent no Topic Alias Maximum gets none.
	n, _ := client(t, addr, packet.V5, "n", true)
	n.Subscribe(1, 0, "out/#")
	p.Publish("out/a", 0, false, "x", 0)
	p.Publish("out/a", 0, false, "y", 0)
	for _, pl := range []string{"x", "y"} {
		if m := n.ExpectPublish("out/a", pl); m.Properties.Has&packet.HasTopicAlias != 0 {
			t.Fatal("alias sent to a client that allows none")
		}
	}
}

// [MQTT-3.3.4-9]: a client that sends more unacknowledged QoS > 0
// PUBLISHes than our Receive Maximum gets DISCONNECT 0x93.
func TestReceiveMaximumInbound(t *testing.T) {
	_, addr := start(t, broker.Options{ReceiveMaximum: 2})
	c, ack := client(t, addr, packet.V5, "c", true)
	if ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("CONNACK receive maximum %d", ack.Properties.ReceiveMaximum)
	}
	// QoS 1 publishes acknowledged at once do not count.
	for i := range 5 {
		c.Publish("rm", 1, false, "x", uint16(i+1))
	}
	// Completed QoS 2 flows free their slot.
	for i := range 3 {
		c.Publish("rm", 2, false, "x", uint16(i+1))
	}
	for i := range 2 {
		c.Send(&packet.Publish{Topic: []byte("rm"), QoS: 2, PacketID: uint16(10 + i)})
		c.ExpectAck(packet.PUBREC, uint16(10+i))
	}
	c.Send(&packet.Publish{Topic: []byte("rm"), QoS: 2, PacketID: 12})
	c.ExpectDisconnect(packet.ReceiveMaximumExceeded)
}

// [MQTT-3.3.4-7], [MQTT-3.3.4-8]: the broker never has more unacknowledged
// QoS > 0 PUBLISHes towards a client than its Receive Maximum; the rest
// waits and follows as acknowledgements come.
func TestReceiveMaximumOutbound(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true, func(cp *packet.Connect) {
		cp.Properties.Has |= packet.HasReceiveMaximum
		cp.Properties.ReceiveMaximum = 2
	})
	s.Subscribe(1, 2, "rmo")
	p, _ := client(t, addr, packet.V5, "p", true)
	for i := range 6 {
		p.Publish("rmo", byte(1+i%2), false, fmt.Sprint(i), uint16(i+1))
	}
	m0 := s.ExpectPublish("rmo", "0")
	m1 := s.ExpectPublish("rmo", "1")
	s.ExpectNone()
	// QoS 0 is not limited.
	p.Publish("rmo", 0, false, "q0", 0)
	s.ExpectPublish("rmo", "q0")
	s.Ack(m0)
	m2 := s.ExpectPublish("rmo", "2")
	s.ExpectNone()
	// A QoS 2 message holds its slot until PUBCOMP (v5 §4.9).
	s.Send(&packet.Ack{Type: packet.PUBREC, PacketID: m1.PacketID})
	s.ExpectAck(packet.PUBREL, m1.PacketID)
	s.ExpectNone()
	s.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: m1.PacketID})
	m3 := s.ExpectPublish("rmo", "3")
	s.ExpectNone()
	s.Send(&packet.Ack{Type: packet.PUBACK, PacketID: m2.PacketID})
	m4 := s.ExpectPublish("rmo", "4")
	s.ExpectNone()
	s.Ack(m3)
	s.Ack(m4)
	recv(t, s, "rmo", "5")
	s.ExpectNone()
}

// Maximum Packet Size of the client [MQTT-3.1.2-24], [MQTT-3.1.2-25]: a
// message too big for it is dropped for that client only; the connection
// and later messages are fine.
func TestMaximumPacketSizeClient(t *testing.T) {
	_, addr := start(t, broker.Options{})
	small, _ := client(t, addr, packet.V5, "small", true, func(cp *packet.Connect) {
		cp.Properties.Has |= packet.HasMaximumPacketSize
		cp.Properties.MaximumPacketSize = 64
	})
	small.Subscribe(1, 1, "mps")
	big, _ := client(t, addr, packet.V5, "big", true)
	big.Subscribe(1, 1, "mps")
	p, _ := client(t, addr, packet.V5, "p", true)
	large := strings.Repeat("x", 100)
	p.Publish("mps", 1, false, large, 1)
	p.Publish("mps", 0, false, large, 0)
	p.Publish("mps", 1, false, "fits", 2)
	recv(t, big, "mps", large)
	recv(t, big, "mps", large)
	recv(t, big, "mps", "fits")
	recv(t, small, "mps", "fits")
	small.ExpectNone()
}

// Our Maximum Packet Size: a bigger packet is DISCONNECT 0x95
// [MQTT-3.2.2-15]; v3 clients are closed.
func TestMaximumPacketSizeServer(t *testing.T) {
	_, addr := start(t, broker.Options{MaxPacketSize: 1024})
	forVersions(t, func(t *testing.T, v packet.Version) {
		c, ack := client(t, addr, v, vid("c", v), true)
		if v == packet.V5 && ack.Properties.MaximumPacketSize != 1024 {
			t.Fatalf("CONNACK maximum packet size %d", ack.Properties.MaximumPacketSize)
		}
		c.Publish("ok", 1, false, strings.Repeat("x", 900), 1)
		c.Send(&packet.Publish{Topic: []byte("big"), Payload: make([]byte, 1100)})
		c.ExpectDisconnect(packet.PacketTooLarge)
		// A header that only announces a huge packet is refused at once,
		// without waiting for (or allocating) the body.
		c, _ = client(t, addr, v, vid("c", v), true)
		c.SendRaw([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
		c.ExpectDisconnect(packet.PacketTooLarge)
	})
}

// Server Keep Alive [MQTT-3.2.2-21]: MaxKeepAlive caps the client's
// keepalive (and replaces 0), and CONNACK says so; the server then enforces
// that value.
func TestServerKeepAlive(t *testing.T) {
	t.Parallel()
	_, addr := start(t, broker.Options{MaxKeepAlive: time.Second})
	for _, ka := range []uint16{0, 60} {
		c, ack := client(t, addr, packet.V5, "c", true, keepAlive(ka))
		if ack.Properties.Has&packet.HasServerKeepAlive == 0 || ack.Properties.ServerKeepAlive != 1 {
			t.Fatalf("keepalive %d: server keep alive %d (has %v)", ka, ack.Properties.ServerKeepAlive, ack.Properties.Has&packet.HasServerKeepAlive != 0)
		}
		if ka == 60 {
			c.ExpectDisconnect(packet.KeepAliveTimeout)
		}
	}
	// A keepalive within the limit is left alone.
	_, addr = start(t, broker.Options{MaxKeepAlive: time.Minute})
	_, ack := client(t, addr, packet.V5, "c", true, keepAlive(30))
	if ack.Properties.Has&packet.HasServerKeepAlive != 0 {
		t.Fatalf("server keep alive %d for a keepalive within the limit", ack.Properties.ServerKeepAlive)
	}
}

// [MQTT-3.3.4-3], v5 §3.8.2.1.2: a Subscription Identifier is sent with
// every message matching the subscription, also retained ones; updating the
// subscription updates it; a subscription without one sends none.
func TestSubscriptionIdentifiers(t *testing.T) {
	_, addr := start(t, broker.Options{})
	p, _ := client(t, addr, packet.V5, "p", true)
	p.Publish("sid/r", 1, true, "retained", 1)
	s, _ := client(t, addr, packet.V5, "s", true)
	sub(t, s, 1, packet.Subscription{Filter: []byte("sid/+"), QoS: 1}, 42, 1)
	if m := recv(t, s, "sid/r", "retained"); !slices.Equal(m.Properties.SubscriptionIDs, []uint32{42}) {
		t.Fatalf("retained: ids %v", m.Properties.SubscriptionIDs)
	}
	p.Publish("sid/x", 1, false, "live", 1)
	if m := recv(t, s, "sid/x", "live"); !slices.Equal(m.Properties.SubscriptionIDs, []uint32{42}) {
		t.Fatalf("live: ids %v", m.Properties.SubscriptionIDs)
	}
	sub(t, s, 2, packet.Subscription{Filter: []byte("sid/+"), QoS: 1, RetainHandling: 2}, 268435455, 1)
	p.Publish("sid/x", 1, false, "max", 1)
	if m := recv(t, s, "sid/x", "max"); !slices.Equal(m.Properties.SubscriptionIDs, []uint32{268435455}) {
		t.Fatalf("updated: ids %v", m.Properties.SubscriptionIDs)
	}
	sub(t, s, 3, packet.Subscription{Filter: []byte("sid/+"), QoS: 1, RetainHandling: 2}, 0, 1)
	p.Publish("sid/x", 1, false, "none", 1)
	if m := recv(t, s, "sid/x", "none"); len(m.Properties.SubscriptionIDs) != 0 {
		t.Fatalf("ids %v after re-subscribing without one", m.Properties.SubscriptionIDs)
	}
}

// [MQTT-3.3.4-6]: a PUBLISH from a client must not carry a Subscription
// Identifier: protocol error.
func TestSubscriptionIdentifierInPublish(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", true)
	m := &packet.Publish{Topic: []byte("a"), Payload: []byte("x")}
	m.Properties.SubscriptionIDs = []uint32{5}
	c.Send(m)
	c.ExpectDisconnect(packet.ProtocolError)
}

// [MQTT-3.8.3-3]: No Local: a client's own messages are not sent back to it
// on that subscription.
func TestNoLocal(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", true)
	sub(t, c, 1, packet.Subscription{Filter: []byte("nl/#"), QoS: 1, NoLocal: true}, 0, 1)
	o, _ := client(t, addr, packet.V5, "o", true)
	o.Subscribe(1, 1, "nl/#")
	c.Publish("nl/a", 1, false, "mine", 1)
	recv(t, o, "nl/a", "mine")
	c.ExpectNone()
	o.Send(&packet.Publish{Topic: []byte("nl/a"), QoS: 1, PacketID: 1, Payload: []byte("theirs")})
	recv(t, o, "nl/a", "theirs") // o has no No Local: its own message comes back
	o.ExpectAck(packet.PUBACK, 1)
	recv(t, c, "nl/a", "theirs")
	// A second, local-allowed subscription of c matches: one delivery.
	sub(t, c, 2, packet.Subscription{Filter: []byte("nl/a"), QoS: 1}, 0, 1)
	c.Send(&packet.Publish{Topic: []byte("nl/a"), QoS: 1, PacketID: 1, Payload: []byte("again")})
	recv(t, c, "nl/a", "again")
	c.ExpectAck(packet.PUBACK, 1)
	c.ExpectNone()
}

// [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
func TestNoLocalShared(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", true)
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("$share/g/x"), NoLocal: true}}})
	c.ExpectDisconnect(packet.ProtocolError)
}

// [MQTT-3.3.2-4], [MQTT-3.3.2-15..20]: payload format, content type,
// response topic, correlation data and user properties (order and
// duplicates kept) are forwarded unchanged; the message expiry is the
// remaining interval [MQTT-3.3.2-6]. A v3 subscriber gets the bare message.
func TestPropertiesPassThrough(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 2, "pp")
	o, _ := client(t, addr, packet.V311, "o", true)
	o.Subscribe(1, 2, "pp")
	p, _ := client(t, addr, packet.V5, "p", true)
	ups := []packet.UserProperty{{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("3")}, {Key: []byte("ü"), Value: []byte("")}}
	for qos := byte(0); qos <= 2; qos++ {
		m := &packet.Publish{Topic: []byte("pp"), QoS: qos, PacketID: 7, Payload: []byte("héllo")}
		pr := &m.Properties
		pr.Has = packet.HasPayloadFormat | packet.HasMessageExpiry
		pr.PayloadFormat = 1
		pr.MessageExpiry = 3600
		pr.ContentType = []byte("text/plain; charset=utf-8")
		pr.ResponseTopic = []byte("pp/reply")
		pr.CorrelationData = []byte{0xde, 0xad, 0, 0xbe, 0xef}
		pr.UserProperties = ups
		p.Send(m)
		if qos == 1 {
			p.ExpectAck(packet.PUBACK, 7)
		}
		if qos == 2 {
			p.ExpectAck(packet.PUBREC, 7)
			p.Send(&packet.Ack{Type: packet.PUBREL, PacketID: 7})
			p.ExpectAck(packet.PUBCOMP, 7)
		}
		got := recv(t, s, "pp", "héllo")
		g := &got.Properties
		if g.Has&packet.HasPayloadFormat == 0 || g.PayloadFormat != 1 {
			t.Errorf("QoS %d: payload format %d", qos, g.PayloadFormat)
		}
		if g.Has&packet.HasMessageExpiry == 0 || g.MessageExpiry < 3599 || g.MessageExpiry > 3600 {
			t.Errorf("QoS %d: message expiry %d", qos, g.MessageExpiry)
		}
		if !bytes.Equal(g.ContentType, pr.ContentType) || !bytes.Equal(g.ResponseTopic, pr.ResponseTopic) || !bytes.Equal(g.CorrelationData, pr.CorrelationData) {
			t.Errorf("QoS %d: content type %q response topic %q correlation %x", qos, g.ContentType, g.ResponseTopic, g.CorrelationData)
		}
		if len(g.UserProperties) != len(ups) {
			t.Fatalf("QoS %d: user properties %q", qos, g.UserProperties)
		}
		for i := range ups {
			if !bytes.Equal(g.UserProperties[i].Key, ups[i].Key) || !bytes.Equal(g.UserProperties[i].Value, ups[i].Value) {
				t.Fatalf("QoS %d: user properties %q", qos, g.UserProperties)
			}
		}
		recv(t, o, "pp", "héllo")
	}
}

// [MQTT-3.3.2-4]: with Payload Format Indicator 1 the payload must be
// UTF-8; the broker may check: PUBACK 0x99 Payload format invalid, not
// delivered.
func TestPayloadFormatInvalid(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "pf")
	p, _ := client(t, addr, packet.V5, "p", true)
	m := &packet.Publish{Topic: []byte("pf"), QoS: 1, PacketID: 1, Payload: []byte{0xff, 0xfe}}
	m.Properties.Has, m.Properties.PayloadFormat = packet.HasPayloadFormat, 1
	p.Send(m)
	if a := p.ExpectAck(packet.PUBACK, 1); a.ReasonCode != packet.PayloadFormatInvalid {
		t.Fatalf("PUBACK %v, want 0x99", a.ReasonCode)
	}
	s.ExpectNone()
}

// [MQTT-3.3.2-5]: a queued message whose expiry passed while the client was
// offline is not delivered; one still alive carries the remaining interval.
func TestMessageExpiryQueued(t *testing.T) {
	t.Parallel()
	srv, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", false, sessionExpiry(60))
	c.Subscribe(1, 1, "mx")
	offline(t, srv, c)
	p, _ := client(t, addr, packet.V5, "p", true)
	for _, e := range []uint32{1, 100} {
		m := &packet.Publish{Topic: []byte("mx"), QoS: 1, PacketID: 1, Payload: fmt.Append(nil, e)}
		m.Properties.Has, m.Properties.MessageExpiry = packet.HasMessageExpiry, e
		p.Send(m)
		p.ExpectAck(packet.PUBACK, 1)
	}
	begin := time.Now()
	// Wait past the short expiry by reading with a timeout.
	p.ExpectNothing(1100*time.Millisecond - time.Since(begin))
	c, _ = client(t, addr, packet.V5, "c", false, sessionExpiry(60))
	m := recv(t, c, "mx", "100")
	if e := m.Properties.MessageExpiry; e < 97 || e > 99 {
		t.Fatalf("remaining expiry %d, want 98 or 99", e)
	}
	c.ExpectNone()
}

// [MQTT-4.12.0-1]: no authentication method is configured, so an AUTH
// packet is a protocol error (0x82).
func TestAuthPacketRefused(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", true)
	c.Send(&packet.Auth{ReasonCode: packet.ReAuthenticate})
	c.ExpectDisconnect(packet.ProtocolError)
}

// Reason strings: a protocol error's DISCONNECT explains itself unless the
// client asked for no problem information [MQTT-3.1.2-29].
func TestReasonStrings(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", true)
	c.Send(&packet.Auth{})
	if d := c.ExpectDisconnect(packet.ProtocolError); len(d.Properties.ReasonString) == 0 {
		t.Fatal("no reason string")
	}
	c, _ = client(t, addr, packet.V5, "c", true, func(cp *packet.Connect) {
		cp.Properties.Has |= packet.HasRequestProblemInfo
		cp.Properties.RequestProblemInfo = 0
	})
	c.Send(&packet.Auth{})
	if d := c.ExpectDisconnect(packet.ProtocolError); len(d.Properties.ReasonString) != 0 {
		t.Fatalf("reason string %q after Request Problem Information 0", d.Properties.ReasonString)
	}
}

// Maximum QoS [MQTT-3.2.2-9..12]: CONNACK announces it, subscriptions are
// granted at most that, a PUBLISH above it is DISCONNECT 0x9B.
func TestMaximumQoS(t *testing.T) {
	_, addr := start(t, broker.Options{MaxQoS: 1})
	c, ack := client(t, addr, packet.V5, "c", true)
	if ack.Properties.Has&packet.HasMaximumQoS == 0 || ack.Properties.MaximumQoS != 1 {
		t.Fatalf("CONNACK maximum QoS %d", ack.Properties.MaximumQoS)
	}
	expectCodes(t, c.Subscribe(1, 2, "mq"), 1)
	p, _ := client(t, addr, packet.V5, "p", true)
	p.Publish("mq", 1, false, "x", 1)
	if m := recv(t, c, "mq", "x"); m.QoS != 1 {
		t.Fatalf("QoS %d", m.QoS)
	}
	c.Send(&packet.Publish{Topic: []byte("mq"), QoS: 2, PacketID: 2})
	c.ExpectDisconnect(packet.QoSNotSupported)
	// v3.1.1 subscribers are granted the maximum too.
	o, _ := client(t, addr, packet.V311, "o", true)
	expectCodes(t, o.Subscribe(1, 2, "mq"), 1)
}
