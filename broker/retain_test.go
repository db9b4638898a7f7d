package broker_test

import (
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// [MQTT-3.3.1-5]: a retained message is stored and sent to new subscribers
// with RETAIN=1 [MQTT-3.3.1-8]; [MQTT-3.3.1-7]: a new one replaces it;
// [MQTT-3.3.1-6], [MQTT-3.3.1-10]: an empty payload deletes it (and is
// still delivered to existing subscribers, but not stored).
func TestRetainedSetReplaceDelete(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := start(t, broker.Options{})
		p, _ := client(t, addr, v, "p", true)
		p.Publish("r/a", 1, true, "first", 1)
		p.Publish("r/b", 0, true, "other", 0)

		s, _ := client(t, addr, v, "s1", true)
		s.Subscribe(1, 1, "r/a")
		m := recv(t, s, "r/a", "first")
		if !m.Retain || m.QoS != 1 {
			t.Fatalf("retained delivered as %s", mqtttest.Describe(m))
		}
		// [MQTT-3.3.1-9] (3.1.1) / [MQTT-3.3.1-12] (v5, retain as published
		// 0): a message matching an established subscription has RETAIN=0.
		p.Publish("r/a", 1, true, "second", 1)
		if m := recv(t, s, "r/a", "second"); m.Retain {
			t.Fatal("RETAIN=1 on a message for an established subscription")
		}

		s2, _ := client(t, addr, v, "s2", true)
		s2.Subscribe(1, 1, "r/#")
		got := map[string]string{}
		for range 2 {
			m := s2.Next().(*packet.Publish)
			if !m.Retain {
				t.Fatalf("got %s", mqtttest.Describe(m))
			}
			got[string(m.Topic)] = string(m.Payload)
			s2.Ack(m)
		}
		if got["r/a"] != "second" || got["r/b"] != "other" {
			t.Fatalf("retained %v", got)
		}

		// Delete: existing subscribers get the empty message, new ones nothing.
		p.Publish("r/a", 1, true, "", 1)
		recv(t, s, "r/a", "")
		s3, _ := client(t, addr, v, "s3", true)
		s3.Subscribe(1, 1, "r/a")
		s3.ExpectNone()
	})
}

// A retained message is delivered on subscribe at the lower of its QoS and
// the subscription's.
func TestRetainedQoS(t *testing.T) {
	_, addr := start(t, broker.Options{})
	p, _ := client(t, addr, packet.V311, "p", true)
	p.Publish("rq", 2, true, "x", 1)
	for q := byte(0); q <= 2; q++ {
		s, _ := client(t, addr, packet.V311, "s", true)
		s.Subscribe(1, q, "rq")
		if m := recv(t, s, "rq", "x"); m.QoS != q || !m.Retain {
			t.Fatalf("sub QoS %d: got %s", q, mqtttest.Describe(m))
		}
	}
}

// [MQTT-3.3.1-9..11]: Retain Handling 0 sends retained messages on every
// subscribe, 1 only when the subscription is new, 2 never.
func TestRetainHandling(t *testing.T) {
	_, addr := start(t, broker.Options{})
	p, _ := client(t, addr, packet.V5, "p", true)
	p.Publish("rh", 1, true, "kept", 1)
	for rh := byte(0); rh <= 2; rh++ {
		s, _ := client(t, addr, packet.V5, "s", true)
		for i, want := range [][2]bool{{true, true}, {true, false}, {false, false}}[rh] {
			sub(t, s, uint16(i+1), packet.Subscription{Filter: []byte("rh"), QoS: 1, RetainHandling: rh}, 0, 1)
			if want {
				recv(t, s, "rh", "kept")
			}
			s.ExpectNone()
		}
	}
}

// [MQTT-3.3.1-12], [MQTT-3.3.1-13]: Retain As Published keeps the RETAIN
// flag of messages forwarded to an established subscription.
func TestRetainAsPublished(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	sub(t, s, 1, packet.Subscription{Filter: []byte("rap/1"), QoS: 1, RetainAsPublished: true}, 0, 1)
	sub(t, s, 2, packet.Subscription{Filter: []byte("rap/0"), QoS: 1}, 0, 1)
	p, _ := client(t, addr, packet.V5, "p", true)
	for _, tc := range []struct {
		topic  string
		retain bool
		want   bool
	}{{"rap/1", true, true}, {"rap/1", false, false}, {"rap/0", true, false}, {"rap/0", false, false}} {
		p.Publish(tc.topic, 1, tc.retain, "x", 1)
		if m := recv(t, s, tc.topic, "x"); m.Retain != tc.want {
			t.Fatalf("%s published retain=%v: delivered retain=%v", tc.topic, tc.retain, m.Retain)
		}
	}
}

// [MQTT-3.3.2-5]: an expired retained message is not delivered;
// [MQTT-3.3.2-6]: one that is still alive carries the remaining interval.
func TestRetainedMessageExpiry(t *testing.T) {
	t.Parallel()
	_, addr := start(t, broker.Options{})
	p, _ := client(t, addr, packet.V5, "p", true)
	pub := func(topic string, expiry uint32) {
		m := &packet.Publish{Topic: []byte(topic), QoS: 1, PacketID: 1, Retain: true, Payload: []byte("x")}
		m.Properties.Has = packet.HasMessageExpiry
		m.Properties.MessageExpiry = expiry
		p.Send(m)
		p.ExpectAck(packet.PUBACK, 1)
	}
	pub("exp/long", 100)
	pub("exp/short", 1)

	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "exp/long")
	m := recv(t, s, "exp/long", "x")
	if m.Properties.Has&packet.HasMessageExpiry == 0 || m.Properties.MessageExpiry > 100 || m.Properties.MessageExpiry < 98 {
		t.Fatalf("message expiry %d (has %v), want the remaining ~100 s", m.Properties.MessageExpiry, m.Properties.Has&packet.HasMessageExpiry != 0)
	}
	// Subscribe until the short one has expired; it must not come back.
	mqtttest.Eventually(t, "the retained message to expire", func() bool {
		c, _ := client(t, addr, packet.V5, "poll", true)
		c.Subscribe(1, 1, "exp/short")
		got := c.Sync()
		for _, p := range got {
			if m, ok := p.(*packet.Publish); ok && (m.Properties.MessageExpiry == 0 || m.Properties.MessageExpiry > 1) {
				t.Fatalf("remaining expiry %d of a 1 s message", m.Properties.MessageExpiry)
			}
		}
		return len(got) == 0
	})
	// A v3 subscriber gets no expiry property but is equally spared.
	c, _ := client(t, addr, packet.V311, "v3", true)
	c.Subscribe(1, 1, "exp/short")
	c.ExpectNone()
}

// Retained messages are matched by wildcard filters on subscribe, except
// '$' topics by a first-level wildcard [MQTT-4.7.2-1].
func TestRetainedWildcards(t *testing.T) {
	_, addr := start(t, broker.Options{})
	p, _ := client(t, addr, packet.V311, "p", true)
	p.Publish("rw/a/b", 1, true, "ab", 1)
	p.Publish("$rw/a", 1, true, "dollar", 1)
	s, _ := client(t, addr, packet.V311, "s", true)
	s.Subscribe(1, 1, "#")
	recv(t, s, "rw/a/b", "ab")
	s.ExpectNone()
	s.Subscribe(2, 1, "+/a")
	s.ExpectNone()
	s.Subscribe(3, 1, "$rw/+")
	recv(t, s, "$rw/a", "dollar")
}

// RetainAvailable=false: v5 CONNACK says so, a retained PUBLISH gets
// DISCONNECT 0x9A [MQTT-3.2.2-14].
func TestRetainNotAvailable(t *testing.T) {
	no := false
	_, addr := start(t, broker.Options{RetainAvailable: &no})
	c, ack := client(t, addr, packet.V5, "c", true)
	if ack.Properties.Has&packet.HasRetainAvailable == 0 || ack.Properties.RetainAvailable != 0 {
		t.Fatalf("CONNACK retain available: has %v value %d", ack.Properties.Has&packet.HasRetainAvailable != 0, ack.Properties.RetainAvailable)
	}
	c.Send(&packet.Publish{Topic: []byte("a"), Retain: true, Payload: []byte("x")})
	c.ExpectDisconnect(packet.RetainNotSupported)
}

// A will with RETAIN=1 when retain is not available refuses the CONNECT
// with 0x9A (v5 §3.2.2.3.5).
func TestRetainNotAvailableWill(t *testing.T) {
	no := false
	_, addr := start(t, broker.Options{RetainAvailable: &no})
	c := dialRaw(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: []byte("c"), CleanStart: true}
	withWill("w", "x", 0, true)(cp)
	if ack := c.TryConnect(cp); ack.ReasonCode != packet.RetainNotSupported {
		t.Fatalf("CONNACK %v, want 0x9A", ack.ReasonCode)
	}
	c.ExpectClosed()
}
