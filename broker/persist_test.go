package broker_test

import (
	"context"
	"fmt"
	"github.com/mqttio/mqttio/broker/store"
	"sync"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/storage"
)

// node is a broker on a bbolt file that a test can restart.
type node struct {
	t    *testing.T
	path string
	db   *storage.DB
	srv  *broker.Server
	addr string
}

func newNode(t *testing.T) *node {
	n := &node{t: t, path: t.TempDir() + "/db"}
	n.up()
	return n
}

func (n *node) up() {
	n.t.Helper()
	db, err := storage.Open(storage.Options{Path: n.path, NoSync: true})
	if err != nil {
		n.t.Fatal(err)
	}
	n.db = db
	n.srv, n.addr = start(n.t, broker.Options{Store: db})
	n.t.Cleanup(func() { db.Close() })
}

// restart shuts the broker down cleanly, closes the store and starts a new
// broker on the same file.
func (n *node) restart() {
	n.t.Helper()
	if err := n.srv.Shutdown(context.Background()); err != nil {
		n.t.Fatal(err)
	}
	if err := n.db.Close(); err != nil {
		n.t.Fatal(err)
	}
	n.up()
}

// QoS 1 and 2 messages queued for an offline persistent session survive a
// restart, with the session's subscriptions (session present = 1).
func TestPersistOfflineQueue(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v packet.Version) {
		n := newNode(t)
		c, _ := client(t, n.addr, v, "c", false, sessionExpiry(3600))
		c.Subscribe(1, 2, "pq/+")
		offline(t, n.srv, c)
		p, _ := client(t, n.addr, v, "p", true)
		for i := range 4 {
			p.Publish(fmt.Sprint("pq/", i), byte(1+i%2), false, fmt.Sprint(i), uint16(i+1))
		}
		n.restart()

		c, ack := client(t, n.addr, v, "c", false, sessionExpiry(3600))
		if v != packet.V31 && !ack.SessionPresent {
			t.Fatal("session lost in the restart")
		}
		for i, m := range recvAll(t, c, 4) {
			if string(m.Topic) != fmt.Sprint("pq/", i) || string(m.Payload) != fmt.Sprint(i) || m.QoS != byte(1+i%2) {
				t.Fatalf("message %d: %s", i, mqtttest.Describe(m))
			}
		}
		c.ExpectNone()
		// The subscription survived too.
		p, _ = client(t, n.addr, v, "p", true)
		p.Publish("pq/x", 1, false, "after", 1)
		recv(t, c, "pq/x", "after")
		// Acknowledged messages are gone from the store.
		offline(t, n.srv, c)
		n.restart()
		c, _ = client(t, n.addr, v, "c", false, sessionExpiry(3600))
		c.ExpectNone()
	})
}

// Messages in flight (sent, not acknowledged; QoS 2 awaiting PUBCOMP)
// survive a restart and are re-sent with DUP and their packet ids
// [MQTT-4.4.0-1].
func TestPersistInflight(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c, _ := client(t, n.addr, packet.V5, "c", false, sessionExpiry(3600))
	c.Subscribe(1, 2, "inf")
	p, _ := client(t, n.addr, packet.V5, "p", true)
	p.Publish("inf", 1, false, "q1", 1)
	p.Publish("inf", 2, false, "q2", 2)
	m1 := c.ExpectPublish("inf", "q1")
	m2 := c.ExpectPublish("inf", "q2")
	c.Send(&packet.Ack{Type: packet.PUBREC, PacketID: m2.PacketID})
	c.ExpectAck(packet.PUBREL, m2.PacketID)
	n.restart()

	c, _ = client(t, n.addr, packet.V5, "c", false, sessionExpiry(3600))
	again := c.ExpectPublish("inf", "q1")
	if !again.Dup || again.PacketID != m1.PacketID || again.QoS != 1 {
		t.Fatalf("re-sent as %s, first %s", mqtttest.Describe(again), mqtttest.Describe(m1))
	}
	c.ExpectAck(packet.PUBREL, m2.PacketID)
	c.Send(&packet.Ack{Type: packet.PUBACK, PacketID: m1.PacketID})
	c.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: m2.PacketID})
	c.ExpectNone()
	// New packet ids do not collide with restored ones.
	p, _ = client(t, n.addr, packet.V5, "p", true)
	p.Publish("inf", 1, false, "new", 1)
	recv(t, c, "inf", "new")
}

// Retained messages survive a restart, and so does their deletion.
func TestPersistRetained(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	p, _ := client(t, n.addr, packet.V5, "p", true)
	m := &packet.Publish{Topic: []byte("pr/a"), QoS: 1, PacketID: 1, Retain: true, Payload: []byte("kept")}
	m.Properties.Has, m.Properties.MessageExpiry = packet.HasMessageExpiry, 3600
	m.Properties.ContentType = []byte("text/plain")
	m.Properties.UserProperties = []packet.UserProperty{{Key: []byte("k"), Value: []byte("v")}}
	p.Send(m)
	p.ExpectAck(packet.PUBACK, 1)
	p.Publish("pr/b", 2, true, "deleted", 2)
	p.Publish("pr/b", 1, true, "", 3)
	n.restart()

	s, _ := client(t, n.addr, packet.V5, "s", true)
	s.Subscribe(1, 2, "pr/#")
	got := recv(t, s, "pr/a", "kept")
	if !got.Retain || got.QoS != 1 || string(got.Properties.ContentType) != "text/plain" || len(got.Properties.UserProperties) != 1 {
		t.Fatalf("restored as %s", mqtttest.Describe(got))
	}
	if e := got.Properties.MessageExpiry; e < 3590 || e > 3600 {
		t.Fatalf("message expiry %d after restart", e)
	}
	s.ExpectNone()
}

// Inbound QoS 2 state survives a restart: a publisher that re-sends the
// PUBLISH (DUP) after the restart does not cause a second delivery, and its
// PUBREL is completed normally [MQTT-4.3.3-10].
func TestPersistInboundQoS2(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	s, _ := client(t, n.addr, packet.V5, "s", false, sessionExpiry(3600))
	s.Subscribe(1, 2, "in2")
	p, _ := client(t, n.addr, packet.V5, "p", false, sessionExpiry(3600))
	pub := &packet.Publish{Topic: []byte("in2"), QoS: 2, PacketID: 5, Payload: []byte("once")}
	p.Send(pub)
	p.ExpectAck(packet.PUBREC, 5)
	recvAll(t, s, 1)
	s.ExpectNone() // the PUBCOMP was handled
	n.restart()

	s, _ = client(t, n.addr, packet.V5, "s", false, sessionExpiry(3600))
	p, _ = client(t, n.addr, packet.V5, "p", false, sessionExpiry(3600))
	pub.Dup = true
	p.Send(pub)
	p.ExpectAck(packet.PUBREC, 5)
	p.Send(&packet.Ack{Type: packet.PUBREL, PacketID: 5})
	if comp := p.ExpectAck(packet.PUBCOMP, 5); comp.ReasonCode != packet.Success {
		t.Fatalf("PUBCOMP %v after restart", comp.ReasonCode)
	}
	s.ExpectNone()
}

// Clean sessions are not restored; the expiry of an offline session keeps
// counting across a restart.
func TestPersistSessionLifetimes(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c, _ := client(t, n.addr, packet.V311, "clean", true)
	c.Subscribe(1, 1, "x")
	e, _ := client(t, n.addr, packet.V5, "short", false, sessionExpiry(1))
	e.Subscribe(1, 1, "x")
	offline(t, n.srv, e)
	n.restart()
	if _, ack := client(t, n.addr, packet.V311, "clean", false); ack.SessionPresent {
		t.Fatal("clean session restored")
	}
	mqtttest.Eventually(t, "the restored session to expire", func() bool { return n.srv.Stats().SessionsExpired == 1 })
	if _, ack := client(t, n.addr, packet.V5, "short", false, sessionExpiry(1)); ack.SessionPresent {
		t.Fatal("session present after its expiry")
	}
}

// heldStore is a store whose commits complete only when the test says so.
type heldStore struct {
	mu   sync.Mutex
	held []func(error)
	hold bool
}

func (s *heldStore) Commit(_ []store.Op, done func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold {
		s.held = append(s.held, done)
		return
	}
	if done != nil {
		done(nil)
	}
}

func (s *heldStore) ForEach(string, func(k, v []byte) error) error { return nil }
func (s *heldStore) Close() error                                  { return nil }

func (s *heldStore) release() {
	s.mu.Lock()
	held := s.held
	s.held, s.hold = nil, false
	s.mu.Unlock()
	for _, done := range held {
		if done != nil {
			done(nil)
		}
	}
}

// A QoS 1/2 message is on disk before the broker acknowledges it (issue 2,
// Persistence): the PUBACK / PUBREC waits for the store commit, and acks
// leave in the order of the publishes [MQTT-4.6.0-2].
func TestPersistAckAfterCommit(t *testing.T) {
	st := &heldStore{}
	srv, addr := start(t, broker.Options{Store: st})
	c, _ := client(t, addr, packet.V311, "c", false)
	c.Subscribe(1, 1, "dur")
	offline(t, srv, c)
	p, _ := client(t, addr, packet.V311, "p", true)
	st.mu.Lock()
	st.hold = true
	st.mu.Unlock()
	p.Send(&packet.Publish{Topic: []byte("dur"), QoS: 1, PacketID: 1, Payload: []byte("x")})
	p.Send(&packet.Publish{Topic: []byte("nobody"), QoS: 1, PacketID: 2, Payload: []byte("y")})
	p.Send(&packet.Publish{Topic: []byte("dur"), QoS: 2, PacketID: 3, Payload: []byte("z")})
	if got := p.Sync(); len(got) != 0 {
		t.Fatalf("acknowledged before the commit: %s", mqtttest.Describe(got[0]))
	}
	st.release()
	p.ExpectAck(packet.PUBACK, 1)
	p.ExpectAck(packet.PUBACK, 2)
	p.ExpectAck(packet.PUBREC, 3)
}
