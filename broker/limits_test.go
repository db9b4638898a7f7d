package broker_test

import (
	"fmt"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/packet"
)

// MaxQueuedMessages (dropping the oldest by default): a full offline queue drops its
// oldest message for each new one.
func TestLimitQueueDropOldest(t *testing.T) {
	testQueueLimit(t, true, []string{"2", "3", "4"})
}

// MaxQueuedMessages with QueueDropNewest: new messages are dropped.
func TestLimitQueueDropNewest(t *testing.T) {
	testQueueLimit(t, false, []string{"0", "1", "2"})
}

func testQueueLimit(t *testing.T, oldest bool, want []string) {
	srv, addr := start(t, broker.Options{MaxQueuedMessages: 3, QueueDropNewest: !oldest})
	c, _ := client(t, addr, packet.V311, "c", false)
	c.Subscribe(1, 1, "q")
	offline(t, srv, c)
	p, _ := client(t, addr, packet.V311, "p", true)
	for i := range 5 {
		p.Publish("q", 1, false, fmt.Sprint(i), 1)
	}
	if d := srv.Stats().Dropped; d != 2 {
		t.Errorf("dropped counter %d, want 2", d)
	}
	c, _ = client(t, addr, packet.V311, "c", false)
	for i, m := range recvAll(t, c, 3) {
		if string(m.Payload) != want[i] {
			t.Fatalf("message %d is %q, want %v", i, m.Payload, want)
		}
	}
	c.ExpectNone()
}

// MaxTopicLevels bounds topic names (PUBLISH: close, v5 0x90) and filters
// (SUBACK failure); a will topic too deep refuses the CONNECT.
func TestLimitTopicLevels(t *testing.T) {
	_, addr := start(t, broker.Options{MaxTopicLevels: 3})
	forVersions(t, func(t *testing.T, v packet.Version) {
		c, _ := client(t, addr, v, vid("c", v), true)
		fail := packet.UnspecifiedError
		if v == packet.V5 {
			fail = packet.TopicFilterInvalid
		}
		expectCodes(t, c.Subscribe(1, 1, "a/b/c", "a/b/c/d", "a/+/#", "a/b/c/#"), 1, fail, 1, fail)
		c.Publish("x/y/z", 1, false, "ok", 1)
		c.Send(&packet.Publish{Topic: []byte("a/b/c/d")})
		c.ExpectDisconnect(packet.TopicNameInvalid)

		c = dialRaw(t, addr, v)
		ack := c.TryConnect(&packet.Connect{ClientID: []byte(vid("w", v)), CleanStart: true, WillFlag: true, WillTopic: []byte("a/b/c/d")})
		if ack.ReasonCode == packet.Success {
			t.Fatal("will topic beyond MaxTopicLevels accepted")
		}
		c.ExpectClosed()
	})
}

// MaxInflight bounds the unacknowledged QoS > 0 messages towards any
// client (v3 clients have no Receive Maximum).
func TestLimitMaxInflight(t *testing.T) {
	_, addr := start(t, broker.Options{MaxInflight: 2})
	s, _ := client(t, addr, packet.V311, "s", true)
	s.Subscribe(1, 1, "mi")
	p, _ := client(t, addr, packet.V311, "p", true)
	for i := range 5 {
		p.Publish("mi", 1, false, fmt.Sprint(i), 1)
	}
	first := recvAll(t, s, 2)
	if string(first[0].Payload) != "0" || string(first[1].Payload) != "1" {
		t.Fatalf("got %q %q", first[0].Payload, first[1].Payload)
	}
	rest := recvAll(t, s, 2) // freed by the acks of the first two
	if string(rest[0].Payload) != "2" || string(rest[1].Payload) != "3" {
		t.Fatalf("got %q %q", rest[0].Payload, rest[1].Payload)
	}
	recv(t, s, "mi", "4")
	s.ExpectNone()
	// v5: the smaller of MaxInflight and the client's Receive Maximum.
	s5, _ := client(t, addr, packet.V5, "s5", true)
	s5.Subscribe(1, 1, "mi")
	for i := range 3 {
		p.Publish("mi", 1, false, fmt.Sprint(i), 1)
	}
	s.ExpectPublish("mi", "0")
	s5.ExpectPublish("mi", "0")
	s5.ExpectPublish("mi", "1")
	s5.ExpectNone()
}
