package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// offline disconnects c normally and waits until the broker has detached
// its session.
func offline(t testing.TB, srv *broker.Server, c *mqtttest.Conn) {
	t.Helper()
	before := srv.Stats().Connections
	c.Send(&packet.Disconnect{})
	c.ExpectClosed()
	mqtttest.Eventually(t, "the client to leave", func() bool { return srv.Stats().Connections < before })
}

// [MQTT-3.1.2-6]: with clean session the session (its subscriptions) does
// not outlive the connection; [MQTT-3.1.2-4]: clean session / clean start
// discards an existing one.
func TestSessionClean(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		srv, addr := start(t, broker.Options{})
		c, _ := client(t, addr, v, "c", true)
		c.Subscribe(1, 1, "cs")
		offline(t, srv, c)
		c, ack := client(t, addr, v, "c", false, sessionExpiry(60))
		if ack.SessionPresent {
			t.Fatal("session present after a clean session")
		}
		c.Subscribe(1, 1, "cs2")
		offline(t, srv, c)
		// Resumed: the subscription is there.
		p, _ := client(t, addr, v, "p", true)
		c, _ = client(t, addr, v, "c", false, sessionExpiry(60))
		p.Publish("cs2", 1, false, "kept", 1)
		recv(t, c, "cs2", "kept")
		offline(t, srv, c)
		// Clean start discards it.
		c, ack = client(t, addr, v, "c", true)
		if ack.SessionPresent {
			t.Fatal("session present with clean start")
		}
		p.Publish("cs2", 1, false, "gone", 1)
		c.ExpectNone()
	})
}

// [MQTT-3.1.2-5], [MQTT-4.4.0-1]: a persistent session keeps its
// subscriptions and queues QoS 1 and 2 messages while offline; they arrive
// in order on reconnect, with session present = 1.
func TestSessionPersistentQueue(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		srv, addr := start(t, broker.Options{})
		c, _ := client(t, addr, v, "c", false, sessionExpiry(60))
		c.Subscribe(1, 2, "pq/#")
		offline(t, srv, c)

		p, _ := client(t, addr, v, "p", true)
		for i := range 6 {
			p.Publish(fmt.Sprint("pq/", i%2), byte(i%3), false, fmt.Sprint(i), uint16(i+1))
		}
		c, ack := client(t, addr, v, "c", false, sessionExpiry(60))
		if v != packet.V31 && !ack.SessionPresent {
			t.Fatal("session present = 0")
		}
		// QoS 0 is not queued for offline clients.
		got := recvAll(t, c, 4)
		for j, i := range []int{1, 2, 4, 5} {
			m := got[j]
			if string(m.Topic) != fmt.Sprint("pq/", i%2) || string(m.Payload) != fmt.Sprint(i) || m.QoS != byte(i%3) || m.Dup {
				t.Fatalf("message %d: got %s", i, mqtttest.Describe(m))
			}
		}
		c.ExpectNone()
	})
}

// [MQTT-4.4.0-1], [MQTT-3.3.1-1]: on reconnect, unacknowledged PUBLISHes
// are re-sent with DUP=1 and their original packet ids, and a PUBREL whose
// PUBCOMP did not come is re-sent, in the original order.
func TestSessionRedeliveryDup(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		srv, addr := start(t, broker.Options{})
		c, _ := client(t, addr, v, "c", false, sessionExpiry(60))
		c.Subscribe(1, 2, "rd")
		p, _ := client(t, addr, v, "p", true)
		p.Publish("rd", 1, false, "q1", 1)
		p.Publish("rd", 2, false, "q2", 2)
		p.Publish("rd", 2, false, "q2-rec", 3)
		m1 := c.ExpectPublish("rd", "q1")
		m2 := c.ExpectPublish("rd", "q2")
		m3 := c.ExpectPublish("rd", "q2-rec")
		c.Send(&packet.Ack{Type: packet.PUBREC, PacketID: m3.PacketID})
		c.ExpectAck(packet.PUBREL, m3.PacketID)
		c.Conn.Close() // no acks beyond the PUBREC
		mqtttest.Eventually(t, "the client to leave", func() bool { return srv.Stats().Connections == 1 })

		c, _ = client(t, addr, v, "c", false, sessionExpiry(60))
		for _, want := range []*packet.Publish{m1, m2} {
			got := c.ExpectPublish("rd", string(want.Payload))
			if !got.Dup || got.PacketID != want.PacketID || got.QoS != want.QoS {
				t.Fatalf("re-sent as %s, first sent as %s", mqtttest.Describe(got), mqtttest.Describe(want))
			}
		}
		rel := c.ExpectAck(packet.PUBREL, m3.PacketID)
		_ = rel
		c.Send(&packet.Ack{Type: packet.PUBACK, PacketID: m1.PacketID})
		c.Send(&packet.Ack{Type: packet.PUBREC, PacketID: m2.PacketID})
		c.ExpectAck(packet.PUBREL, m2.PacketID)
		c.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: m2.PacketID})
		c.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: m3.PacketID})
		c.ExpectNone()
		// Nothing left to re-send.
		c.Conn.Close()
		mqtttest.Eventually(t, "the client to leave", func() bool { return srv.Stats().Connections == 1 })
		c, _ = client(t, addr, v, "c", false, sessionExpiry(60))
		c.ExpectNone()
	})
}

// [MQTT-3.1.2-23]: a v5 session expires Session Expiry Interval seconds
// after the connection closed: the subscriptions and queue are gone and the
// next CONNECT gets session present = 0.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	srv, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", false, sessionExpiry(1))
	c.Subscribe(1, 1, "se")
	offline(t, srv, c)
	p, _ := client(t, addr, packet.V5, "p", true)
	p.Publish("se", 1, false, "queued", 1)
	mqtttest.Eventually(t, "the session to expire", func() bool { return srv.Stats().SessionsExpired == 1 })
	c, ack := client(t, addr, packet.V5, "c", false, sessionExpiry(1))
	if ack.SessionPresent {
		t.Fatal("session present after expiry")
	}
	c.ExpectNone()
	p.Publish("se", 1, false, "after", 1)
	c.ExpectNone()
}

// A session that is resumed before it expires is kept, and its expiry
// starts again from the next disconnect.
func TestSessionExpiryResumed(t *testing.T) {
	t.Parallel()
	srv, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", false, sessionExpiry(1))
	c.Subscribe(1, 1, "ser")
	offline(t, srv, c)
	c, ack := client(t, addr, packet.V5, "c", false, sessionExpiry(1))
	if !ack.SessionPresent {
		t.Fatal("session lost before its expiry")
	}
	// Stay connected past the first expiry deadline.
	c.ExpectNothing(1300 * time.Millisecond)
	if n := srv.Stats().SessionsExpired; n != 0 {
		t.Fatalf("%d sessions expired while connected", n)
	}
	offline(t, srv, c)
	_, ack = client(t, addr, packet.V5, "c", false, sessionExpiry(1))
	if !ack.SessionPresent {
		t.Fatal("session lost at once")
	}
}

// [MQTT-3.14.2-2], [MQTT-3.1.2-23]: the Session Expiry Interval sent in
// DISCONNECT replaces the CONNECT's: 0 ends the session now, a shorter one
// ends it sooner; setting one after 0 in CONNECT is a protocol error.
func TestSessionExpiryInDisconnect(t *testing.T) {
	t.Parallel()
	srv, addr := start(t, broker.Options{})
	disc := func(secs uint32) *packet.Disconnect {
		d := &packet.Disconnect{}
		d.Properties.Has = packet.HasSessionExpiry
		d.Properties.SessionExpiry = secs
		return d
	}

	c, _ := client(t, addr, packet.V5, "zero", false, sessionExpiry(3600))
	c.Send(disc(0))
	c.ExpectClosed()
	mqtttest.Eventually(t, "the client to leave", func() bool { return srv.Stats().Connections == 0 })
	if _, ack := client(t, addr, packet.V5, "zero", false, sessionExpiry(3600)); ack.SessionPresent {
		t.Fatal("session kept after DISCONNECT with expiry 0")
	}

	c, _ = client(t, addr, packet.V5, "short", false, sessionExpiry(3600))
	c.Send(disc(1))
	c.ExpectClosed()
	mqtttest.Eventually(t, "the session to expire", func() bool { return srv.Stats().SessionsExpired == 1 })

	c, _ = client(t, addr, packet.V5, "never", true) // expiry 0
	c.Send(disc(30))
	d := c.ExpectDisconnect(packet.ProtocolError)
	if len(d.Properties.ReasonString) == 0 {
		t.Error("no reason string")
	}
}

// [MQTT-3.1.4-3]: a CONNECT with the client id of a connected client takes
// over: the old connection is closed, on v5 with DISCONNECT 0x8E; the
// session carries over.
func TestSessionTakeover(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		_, addr := start(t, broker.Options{})
		old, _ := client(t, addr, v, "same", false, sessionExpiry(60))
		old.Subscribe(1, 1, "to")
		nc, ack := client(t, addr, v, "same", false, sessionExpiry(60))
		if v != packet.V31 && !ack.SessionPresent {
			t.Fatal("session not carried over")
		}
		old.ExpectDisconnect(packet.SessionTakenOver)
		p, _ := client(t, addr, v, "p", true)
		p.Publish("to", 1, false, "new", 1)
		recv(t, nc, "to", "new")
		// Takeover with clean start: a fresh session.
		nc2, ack := client(t, addr, v, "same", true)
		if ack.SessionPresent {
			t.Fatal("session present with clean start")
		}
		nc.ExpectDisconnect(packet.SessionTakenOver)
		p.Publish("to", 1, false, "none", 1)
		nc2.ExpectNone()
	})
}

// Takeover keeps the messages in flight to the old connection: the new one
// gets them again with DUP=1 [MQTT-4.4.0-1].
func TestSessionTakeoverInflight(t *testing.T) {
	_, addr := start(t, broker.Options{})
	old, _ := client(t, addr, packet.V5, "same", false, sessionExpiry(60))
	old.Subscribe(1, 1, "ti")
	p, _ := client(t, addr, packet.V5, "p", true)
	p.Publish("ti", 1, false, "m", 1)
	first := old.ExpectPublish("ti", "m")
	nc, _ := client(t, addr, packet.V5, "same", false, sessionExpiry(60))
	again := nc.ExpectPublish("ti", "m")
	if !again.Dup || again.PacketID != first.PacketID {
		t.Fatalf("re-sent as %s", mqtttest.Describe(again))
	}
	nc.Ack(again)
	nc.ExpectNone()
}

// Clean start with a Session Expiry Interval: a new session that outlives
// the connection.
func TestSessionCleanStartWithExpiry(t *testing.T) {
	srv, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "c", true, sessionExpiry(60))
	c.Subscribe(1, 1, "cswe")
	offline(t, srv, c)
	p, _ := client(t, addr, packet.V5, "p", true)
	p.Publish("cswe", 1, false, "q", 1)
	c, ack := client(t, addr, packet.V5, "c", false, sessionExpiry(60))
	if !ack.SessionPresent {
		t.Fatal("session lost")
	}
	recv(t, c, "cswe", "q")
}
