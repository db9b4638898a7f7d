package broker_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// QoS 0 both ways: at most once, no packet id, no acknowledgement.
func TestQoS0(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		expectCodes(t, s.Subscribe(1, 0, vid("q0", v)), 0)
		p, _ := client(t, addr, v, vid("p", v), true)
		p.Publish(vid("q0", v), 0, false, "m", 0)
		p.ExpectNone() // no acknowledgement of a QoS 0 publish
		got := s.ExpectPublish(vid("q0", v), "m")
		if got.QoS != 0 || got.PacketID != 0 || got.Dup || got.Retain {
			t.Fatalf("got %s", mqtttest.Describe(got))
		}
	})
}

// [MQTT-4.3.2]: QoS 1 both ways; PUBACK carries the publish's packet id
// [MQTT-2.2.1-4]; the broker keeps an unacknowledged message in flight and
// sends nothing else under its packet id.
func TestQoS1(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		s.Subscribe(1, 1, vid("q1", v))
		p, _ := client(t, addr, v, vid("p", v), true)
		p.Send(&packet.Publish{Topic: []byte(vid("q1", v)), QoS: 1, PacketID: 77, Payload: []byte("m1")})
		p.ExpectAck(packet.PUBACK, 77)
		m1 := s.ExpectPublish(vid("q1", v), "m1")
		if m1.QoS != 1 || m1.PacketID == 0 || m1.Dup {
			t.Fatalf("got %s", mqtttest.Describe(m1))
		}
		p.Publish(vid("q1", v), 1, false, "m2", 78)
		m2 := s.ExpectPublish(vid("q1", v), "m2")
		if m2.PacketID == m1.PacketID {
			t.Fatalf("packet id %d reused while in flight [MQTT-2.2.1-3]", m2.PacketID)
		}
		s.Ack(m1)
		s.Ack(m2)
		s.ExpectNone()
		// The same packet id may be used again once acknowledged.
		p.Publish(vid("q1", v), 1, false, "m3", 77)
		recv(t, s, vid("q1", v), "m3")
	})
}

// [MQTT-4.3.3]: QoS 2 inbound: PUBREC, then PUBREL → PUBCOMP; a PUBLISH
// re-sent with DUP before the PUBREL is not delivered again
// [MQTT-4.3.3-10]; after PUBCOMP the id is a new message.
func TestQoS2Inbound(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		s.Subscribe(1, 2, vid("q2", v))
		p, _ := client(t, addr, v, vid("p", v), true)
		pub := &packet.Publish{Topic: []byte(vid("q2", v)), QoS: 2, PacketID: 9, Payload: []byte("once")}
		p.Send(pub)
		p.ExpectAck(packet.PUBREC, 9)
		recv(t, s, vid("q2", v), "once")
		pub.Dup = true
		p.Send(pub)
		p.ExpectAck(packet.PUBREC, 9)
		p.Send(&packet.Ack{Type: packet.PUBREL, PacketID: 9})
		p.ExpectAck(packet.PUBCOMP, 9)
		// A re-sent PUBREL is answered again [MQTT-4.3.3-11].
		p.Send(&packet.Ack{Type: packet.PUBREL, PacketID: 9})
		comp := p.ExpectAck(packet.PUBCOMP, 9)
		if v == packet.V5 && comp.ReasonCode != packet.PacketIdentifierNotFound {
			t.Fatalf("PUBCOMP for an unknown id: rc %v, want 0x92", comp.ReasonCode)
		}
		s.ExpectNone()
		p.Publish(vid("q2", v), 2, false, "again", 9)
		recv(t, s, vid("q2", v), "again")
	})
}

// [MQTT-4.3.3]: QoS 2 outbound: PUBLISH → PUBREC → PUBREL → PUBCOMP; the
// broker re-sends nothing once it has the PUBREC.
func TestQoS2Outbound(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		s.Subscribe(1, 2, vid("q2", v))
		p, _ := client(t, addr, v, vid("p", v), true)
		p.Publish(vid("q2", v), 2, false, "m", 5)
		m := s.ExpectPublish(vid("q2", v), "m")
		if m.QoS != 2 || m.PacketID == 0 {
			t.Fatalf("got %s", mqtttest.Describe(m))
		}
		s.Send(&packet.Ack{Type: packet.PUBREC, PacketID: m.PacketID})
		rel := s.ExpectAck(packet.PUBREL, m.PacketID)
		if rel.ReasonCode != packet.Success {
			t.Fatalf("PUBREL rc %v", rel.ReasonCode)
		}
		s.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: m.PacketID})
		s.ExpectNone()
		// A PUBREC for an id not in flight: v5 answers PUBREL 0x92.
		if v == packet.V5 {
			s.Send(&packet.Ack{Type: packet.PUBREC, PacketID: m.PacketID})
			if rel := s.ExpectAck(packet.PUBREL, m.PacketID); rel.ReasonCode != packet.PacketIdentifierNotFound {
				t.Fatalf("PUBREL rc %v, want 0x92", rel.ReasonCode)
			}
		}
	})
}

// [MQTT-3.8.4-6]/[MQTT-3.3.5-1]: a message is delivered at the lower of
// its QoS and the subscription's granted QoS.
func TestQoSDowngrade(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		for subQoS := byte(0); subQoS <= 2; subQoS++ {
			s, _ := client(t, addr, v, vid(fmt.Sprint("s", subQoS), v), true)
			expectCodes(t, s.Subscribe(1, subQoS, vid("dg", v)), packet.ReasonCode(subQoS))
			p, _ := client(t, addr, v, vid(fmt.Sprint("p", subQoS), v), true)
			for pubQoS := byte(0); pubQoS <= 2; pubQoS++ {
				p.Publish(vid("dg", v), pubQoS, false, "x", 1)
				m := recv(t, s, vid("dg", v), "x")
				if want := min(subQoS, pubQoS); m.QoS != want {
					t.Fatalf("sub %d pub %d: delivered at QoS %d, want %d", subQoS, pubQoS, m.QoS, want)
				}
			}
		}
	})
}

// Overlapping subscriptions of one client: one delivery at the highest
// granted QoS [MQTT-3.3.4-2]; on v5 it carries every matching subscription
// identifier [MQTT-3.3.4-3], [MQTT-3.3.4-5].
func TestQoSOverlappingSubscriptions(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := start(t, broker.Options{})
		s, _ := client(t, addr, v, vid("s", v), true)
		base := vid("ov", v)
		filters := []struct {
			f   string
			qos byte
			id  uint32
		}{{base + "/+", 0, 3}, {base + "/#", 2, 7}, {base + "/a", 1, 0}, {"+/a", 1, 11}}
		for i, f := range filters {
			id := f.id
			if v != packet.V5 {
				id = 0
			}
			sub(t, s, uint16(i+1), packet.Subscription{Filter: []byte(f.f), QoS: f.qos}, id, packet.ReasonCode(f.qos))
		}
		p, _ := client(t, addr, v, vid("p", v), true)
		p.Publish(base+"/a", 2, false, "one", 1)
		m := recv(t, s, base+"/a", "one")
		if m.QoS != 2 {
			t.Fatalf("delivered at QoS %d, want 2", m.QoS)
		}
		if v == packet.V5 {
			ids := slices.Sorted(slices.Values(m.Properties.SubscriptionIDs))
			if !slices.Equal(ids, []uint32{3, 7, 11}) {
				t.Fatalf("subscription ids %v, want [3 7 11]", m.Properties.SubscriptionIDs)
			}
		}
		s.ExpectNone()
	})
}

// Wildcards [MQTT-4.7.1]: '+' one level, '#' any number including the
// parent level; an empty level is a level.
func TestWildcards(t *testing.T) {
	_, addr := start(t, broker.Options{})
	cases := []struct {
		filter string
		match  []string
		miss   []string
	}{
		{"w/+", []string{"w/a", "w/"}, []string{"w", "w/a/b", "x/a"}},
		{"w/#", []string{"w", "w/a", "w/a/b", "w/"}, []string{"x", "ww/a"}},
		{"w/+/c", []string{"w/b/c", "w//c"}, []string{"w/b/c/d", "w/c"}},
		{"+/+", []string{"a/b", "/b", "a/"}, []string{"a", "a/b/c"}},
		{"#", []string{"a", "a/b", "/"}, nil},
		{"/+", []string{"/a"}, []string{"a", "a/b"}},
		{"w/+/#", []string{"w/a", "w/a/b/c"}, []string{"w"}},
	}
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		for i, tc := range cases {
			s, _ := client(t, addr, v, "wild", true)
			s.Subscribe(1, 1, tc.filter)
			p, _ := client(t, addr, v, "wild-pub", true)
			for _, name := range tc.match {
				p.Publish(name, 1, false, tc.filter, 1)
				s.Ack(s.ExpectPublish(name, tc.filter))
			}
			for _, name := range tc.miss {
				p.Publish(name, 1, false, tc.filter, 1)
			}
			if got := s.Sync(); len(got) > 0 {
				t.Fatalf("case %d: %q matched %s", i, tc.filter, mqtttest.Describe(got[0]))
			}
		}
	}
}

// [MQTT-4.7.2-1]: topics starting with '$' are not matched by a wildcard in
// the first level; "$SYS/#" matches them.
func TestWildcardsDollarTopics(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		s.Subscribe(1, 1, "#", "+/x", "+/+")
		dollar := vid("$app", v)
		d, _ := client(t, addr, v, vid("d", v), true)
		d.Subscribe(1, 1, dollar+"/#", dollar+"/+")
		p, _ := client(t, addr, v, vid("p", v), true)
		p.Publish(dollar+"/x", 1, false, "dollar", 1)
		recv(t, d, dollar+"/x", "dollar")
		d.ExpectNone() // once, though two filters match
		s.ExpectNone()
	})
}

// Invalid topic filters get a failure code in SUBACK: 0x80 on v3
// [MQTT-3.9.3], 0x8F Topic Filter Invalid on v5; the other filters of the
// SUBSCRIBE are granted [MQTT-3.8.4-5].
func TestSubscribeInvalidFilters(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		fail := packet.UnspecifiedError
		if v == packet.V5 {
			fail = packet.TopicFilterInvalid
		}
		s, _ := client(t, addr, v, vid("s", v), true)
		bad := []string{"a/#/b", "a+", "a/b#", "#/a", "+a/b", "", "$share/g", "$share//a", "$share/g+/a"}
		for i, f := range bad {
			expectCodes(t, s.Subscribe(uint16(i+1), 1, f, fmt.Sprint("ok/", i)), fail, 1)
		}
		s.ExpectNone()
	})
}

// [MQTT-3.3.2-2]: a wildcard in a PUBLISH topic closes the connection
// (v5: DISCONNECT 0x90 Topic Name Invalid).
func TestPublishWildcardTopic(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		for _, name := range []string{"a/+", "a/#", "#", "+"} {
			c, _ := client(t, addr, v, vid("wc", v), true)
			c.Send(&packet.Publish{Topic: []byte(name), Payload: []byte("x")})
			c.ExpectDisconnect(packet.TopicNameInvalid)
		}
	})
}

// [MQTT-3.10.4]: after UNSUBSCRIBE nothing more is delivered; v5 UNSUBACK
// says 0x11 for a filter that had no subscription.
func TestUnsubscribe(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		s.Subscribe(1, 1, vid("u", v), vid("u", v)+"/#")
		s.Send(&packet.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte(vid("u", v)), []byte("never")}})
		ua := mqtttest.Expect[*packet.Unsuback](s)
		if ua.PacketID != 2 {
			t.Fatalf("UNSUBACK id %d", ua.PacketID)
		}
		if v == packet.V5 {
			expectCodes(t, ua.ReasonCodes, packet.Success, packet.NoSubscriptionExisted)
		}
		p, _ := client(t, addr, v, vid("p", v), true)
		p.Publish(vid("u", v), 1, false, "x", 1) // still matched by u/#
		recv(t, s, vid("u", v), "x")
		s.Send(&packet.Unsubscribe{PacketID: 3, Filters: [][]byte{[]byte(vid("u", v) + "/#")}})
		mqtttest.Expect[*packet.Unsuback](s)
		p.Publish(vid("u", v), 1, false, "y", 1)
		s.ExpectNone()
	})
}

// [MQTT-3.8.4-3]: a SUBSCRIBE for an existing filter replaces the
// subscription (its QoS); no duplicate delivery.
func TestSubscribeReplaces(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V311, "s", true)
	s.Subscribe(1, 2, "r")
	s.Subscribe(2, 0, "r")
	p, _ := client(t, addr, packet.V311, "p", true)
	p.Publish("r", 2, false, "x", 1)
	if m := s.ExpectPublish("r", "x"); m.QoS != 0 {
		t.Fatalf("QoS %d after re-subscribing at 0", m.QoS)
	}
	s.ExpectNone()
}

// [MQTT-4.6.0-6]: messages on one topic reach a subscriber in the order
// they were published, across QoS levels.
func TestQoSOrdering(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "ord")
	p, _ := client(t, addr, packet.V5, "p", true)
	for i := range 30 {
		p.Send(&packet.Publish{Topic: []byte("ord"), QoS: byte(i % 3), PacketID: uint16(i + 1), Payload: fmt.Append(nil, i)})
	}
	var got []*packet.Publish
	for i := range 30 {
		got = append(got, s.ExpectPublish("ord", fmt.Sprint(i)))
	}
	for _, m := range got {
		s.Ack(m)
	}
	// The publisher's acknowledgements come in the order of its publishes
	// [MQTT-4.6.0-2], [MQTT-4.6.0-3].
	for i := range 30 {
		switch i % 3 {
		case 1:
			p.ExpectAck(packet.PUBACK, uint16(i+1))
		case 2:
			p.ExpectAck(packet.PUBREC, uint16(i+1))
		}
	}
}

// v5: a QoS > 0 PUBLISH nobody subscribed to is acknowledged with 0x10 No
// matching subscribers.
func TestPublishNoMatchingSubscribers(t *testing.T) {
	_, addr := start(t, broker.Options{})
	p, _ := client(t, addr, packet.V5, "p", true)
	if rc := p.Publish("nobody/home", 1, false, "x", 1); rc != packet.NoMatchingSubscribers {
		t.Fatalf("PUBACK %v, want 0x10", rc)
	}
	if rc := p.Publish("nobody/home", 2, false, "x", 2); rc != packet.NoMatchingSubscribers {
		t.Fatalf("PUBREC %v, want 0x10", rc)
	}
}

// Packets larger than the read buffers are reassembled, alone and between
// small ones in the same write.
func TestLargePayload(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) { testLargePayload(t, mode.noNetpoll) })
	}
}

func testLargePayload(t *testing.T, noNetpoll bool) {
	_, addr := start(t, broker.Options{MaxPacketSize: 1 << 20, DisableNetpoll: noNetpoll})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "big/#")
	p, _ := client(t, addr, packet.V5, "p", true)
	for _, size := range []int{63, 64, 65, 4095, 32 << 10, 100 << 10, 1<<20 - 100} {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		var b []byte
		b = packet.AppendPublish(b, packet.V5, &packet.Publish{Topic: []byte("big/a"), Payload: []byte("before")})
		b = packet.AppendPublish(b, packet.V5, &packet.Publish{Topic: []byte("big/b"), QoS: 1, PacketID: 3, Payload: payload})
		b = packet.AppendPublish(b, packet.V5, &packet.Publish{Topic: []byte("big/c"), Payload: []byte("after")})
		p.SendRaw(b)
		p.ExpectAck(packet.PUBACK, 3)
		recv(t, s, "big/a", "before")
		recv(t, s, "big/b", string(payload))
		recv(t, s, "big/c", "after")
	}
}

// [MQTT-3.3.1-3]: the DUP flag of an incoming PUBLISH is not propagated:
// the outgoing one has DUP=0 on its first delivery.
func TestDupNotPropagated(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V311, "s", true)
	s.Subscribe(1, 1, "dup")
	p, _ := client(t, addr, packet.V311, "p", true)
	p.Send(&packet.Publish{Topic: []byte("dup"), QoS: 1, PacketID: 1, Dup: true, Payload: []byte("x")})
	p.ExpectAck(packet.PUBACK, 1)
	if m := recv(t, s, "dup", "x"); m.Dup {
		t.Fatal("DUP propagated")
	}
}
