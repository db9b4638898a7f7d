package broker_test

import (
	"fmt"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// [MQTT-4.8.2]: each message to a shared subscription goes to exactly one
// member of the group, round-robin; other groups and plain subscriptions
// get their own copy.
func TestSharedRoundRobin(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		_, addr := start(t, broker.Options{})
		a, _ := client(t, addr, v, "a", true)
		b, _ := client(t, addr, v, "b", true)
		o, _ := client(t, addr, v, "other-group", true)
		n, _ := client(t, addr, v, "plain", true)
		expectCodes(t, a.Subscribe(1, 1, "$share/g/sh/#"), 1)
		expectCodes(t, b.Subscribe(1, 1, "$share/g/sh/#"), 1)
		o.Subscribe(1, 1, "$share/h/sh/+")
		n.Subscribe(1, 1, "sh/#")
		p, _ := client(t, addr, v, "p", true)
		const total = 10
		for i := range total {
			p.Publish("sh/x", 1, false, fmt.Sprint(i), uint16(i+1))
		}
		got := map[string]int{}
		for _, c := range []*mqtttest.Conn{a, b} {
			for _, pk := range c.Sync() {
				m := pk.(*packet.Publish)
				c.Ack(m)
				got[string(m.Payload)]++
			}
		}
		if len(got) != total {
			t.Fatalf("v%d: group got %d distinct messages, want %d: %v", v, len(got), total, got)
		}
		for k, n := range got {
			if n != 1 {
				t.Fatalf("v%d: message %s delivered %d times", v, k, n)
			}
		}
		// Round-robin: one publisher, two members: they alternate.
		for i := range total {
			recv(t, o, "sh/x", fmt.Sprint(i))
			recv(t, n, "sh/x", fmt.Sprint(i))
		}
		p.Publish("sh/x", 1, false, "a-or-b", 1)
		ga, gb := len(a.Sync()), len(b.Sync())
		if ga+gb != 1 {
			t.Fatalf("one message: a got %d, b got %d", ga, gb)
		}
	}
}

// Strict alternation between two members for one publisher.
func TestSharedAlternates(t *testing.T) {
	_, addr := start(t, broker.Options{})
	a, _ := client(t, addr, packet.V5, "a", true)
	b, _ := client(t, addr, packet.V5, "b", true)
	a.Subscribe(1, 0, "$share/g/alt")
	b.Subscribe(1, 0, "$share/g/alt")
	p, _ := client(t, addr, packet.V5, "p", true)
	for i := range 6 {
		p.Publish("alt", 1, false, fmt.Sprint(i), 1)
	}
	na, nb := len(a.Sync()), len(b.Sync())
	if na != 3 || nb != 3 {
		t.Fatalf("a got %d, b got %d; want 3 each", na, nb)
	}
}

// A member that goes away with unacknowledged QoS 1 messages: they go to
// another member of the group (v5 §4.8.2; issue 2: re-dispatched).
func TestSharedRedispatchOnDisconnect(t *testing.T) {
	srv, addr := start(t, broker.Options{})
	a, _ := client(t, addr, packet.V5, "a", true)
	a.Subscribe(1, 1, "$share/g/rd")
	p, _ := client(t, addr, packet.V5, "p", true)
	p.Publish("rd", 1, false, "m1", 1)
	p.Publish("rd", 1, false, "m2", 2)
	a.ExpectPublish("rd", "m1")
	a.ExpectPublish("rd", "m2")
	b, _ := client(t, addr, packet.V5, "b", true)
	b.Subscribe(1, 1, "$share/g/rd")
	a.Conn.Close() // unacknowledged
	mqtttest.Eventually(t, "a to leave", func() bool { return srv.Stats().Connections == 2 })
	got := map[string]bool{}
	for _, m := range recvAll(t, b, 2) {
		got[string(m.Payload)] = true
	}
	if !got["m1"] || !got["m2"] {
		t.Fatalf("b got %v", got)
	}
	b.ExpectNone()
}

// A persistent member that is offline is skipped while another member is
// online.
func TestSharedPrefersOnlineMember(t *testing.T) {
	srv, addr := start(t, broker.Options{})
	a, _ := client(t, addr, packet.V5, "a", false, sessionExpiry(60))
	a.Subscribe(1, 1, "$share/g/on")
	offline(t, srv, a)
	b, _ := client(t, addr, packet.V5, "b", true)
	b.Subscribe(1, 1, "$share/g/on")
	p, _ := client(t, addr, packet.V5, "p", true)
	for i := range 4 {
		p.Publish("on", 1, false, fmt.Sprint(i), 1)
	}
	recvAll(t, b, 4)
	a, _ = client(t, addr, packet.V5, "a", false, sessionExpiry(60))
	a.ExpectNone()
}

// Retained messages are not sent for a new shared subscription
// (v5 §4.8.2).
func TestSharedNoRetained(t *testing.T) {
	_, addr := start(t, broker.Options{})
	p, _ := client(t, addr, packet.V5, "p", true)
	p.Publish("sr", 1, true, "kept", 1)
	a, _ := client(t, addr, packet.V5, "a", true)
	a.Subscribe(1, 1, "$share/g/sr")
	a.ExpectNone()
}

// Unsubscribing a shared subscription leaves the group.
func TestSharedUnsubscribe(t *testing.T) {
	_, addr := start(t, broker.Options{})
	a, _ := client(t, addr, packet.V5, "a", true)
	b, _ := client(t, addr, packet.V5, "b", true)
	a.Subscribe(1, 1, "$share/g/un")
	b.Subscribe(1, 1, "$share/g/un")
	a.Send(&packet.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("$share/g/un")}})
	if ua := mqtttest.Expect[*packet.Unsuback](a); len(ua.ReasonCodes) != 1 || ua.ReasonCodes[0] != packet.Success {
		t.Fatalf("UNSUBACK %v", ua.ReasonCodes)
	}
	p, _ := client(t, addr, packet.V5, "p", true)
	for i := range 4 {
		p.Publish("un", 1, false, fmt.Sprint(i), 1)
	}
	recvAll(t, b, 4)
	a.ExpectNone()
}
