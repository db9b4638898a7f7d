package cluster_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/cluster"
	"github.com/mqttio/mqttio/cluster/clustertest"
)

// sub subscribes c with full options and checks the SUBACK.
func sub(t *testing.T, c *mqtttest.Conn, pid uint16, id uint32, subs ...packet.Subscription) {
	t.Helper()
	p := &packet.Subscribe{PacketID: pid, Subscriptions: subs}
	if id != 0 {
		p.Properties.SubscriptionIDs = []uint32{id}
	}
	c.Send(p)
	ack := mqtttest.Expect[*packet.Suback](c)
	for i, rc := range ack.ReasonCodes {
		if rc.IsError() {
			t.Fatalf("SUBACK %d: %v for %q", pid, rc, subs[i].Filter)
		}
	}
}

func filter(f string, qos byte) packet.Subscription {
	return packet.Subscription{Filter: []byte(f), QoS: qos}
}

// expect reads the next PUBLISH, checks topic and payload, acknowledges
// it, and returns it.
func expect(t *testing.T, c *mqtttest.Conn, topic, payload string) *packet.Publish {
	t.Helper()
	p := c.ExpectPublish(topic, payload)
	c.Ack(p)
	return p
}

func route(f, g string) cluster.Route { return cluster.Route{Filter: f, Group: g} }

// TestCrossNodeDelivery runs the delivery semantics across three nodes:
// QoS and downgrade, one copy per subscriber, wildcards, no-local,
// subscription identifiers, retain-as-published and v5 properties.
func TestCrossNodeDelivery(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	a, b, n3 := c.Node("n1"), c.Node("n2"), c.Node("n3")

	t.Run("QoS", func(t *testing.T) {
		s1 := a.Dial(t, "q-sub1", packet.V5)
		sub(t, s1, 1, 0, filter("q/+", 1))
		s2 := n3.Dial(t, "q-sub2", packet.V311)
		sub(t, s2, 1, 0, filter("q/#", 2))
		c.WaitRoute(a, route("q/+", ""), true)
		c.WaitRoute(n3, route("q/#", ""), true)
		pub := b.Dial(t, "q-pub", packet.V5)
		for qos := byte(0); qos <= 2; qos++ {
			topic := fmt.Sprintf("q/%d", qos)
			if rc := pub.Publish(topic, qos, false, "m", uint16(qos+1)); rc.IsError() {
				t.Fatalf("publish: %v", rc)
			}
			if p := expect(t, s1, topic, "m"); p.QoS != min(qos, 1) {
				t.Fatalf("n1 got QoS %d for %d, want %d (downgraded)", p.QoS, qos, min(qos, 1))
			}
			if p := expect(t, s2, topic, "m"); p.QoS != qos {
				t.Fatalf("n3 got QoS %d, want %d", p.QoS, qos)
			}
		}
	})

	t.Run("OncePerSubscriber", func(t *testing.T) {
		var subs []*mqtttest.Conn
		for _, n := range c.Live() {
			s := n.Dial(t, "all-"+n.ID, packet.V311)
			// Two overlapping filters: still one copy.
			sub(t, s, 1, 0, filter("all/#", 1), filter("all/+", 1))
			subs = append(subs, s)
			c.WaitRoute(n, route("all/+", ""), true)
			c.WaitRoute(n, route("all/#", ""), true)
		}
		pub := b.Dial(t, "all-pub", packet.V311)
		pub.Publish("all/x", 1, false, "once", 1)
		pub.Publish("all/end", 1, false, "end", 2)
		for _, s := range subs {
			// Same publisher, same stream: a duplicate would come before
			// the end marker.
			expect(t, s, "all/x", "once")
			expect(t, s, "all/end", "end")
		}
		if st := b.Cluster.Stats(); st.Forwarded < 4 {
			t.Fatalf("forwarded %d, want one per message and peer (4)", st.Forwarded)
		}
	})

	t.Run("Wildcards", func(t *testing.T) {
		s := n3.Dial(t, "w-sub", packet.V311)
		sub(t, s, 1, 0, filter("+/w/#", 0), filter("w2/+/z", 0))
		for _, f := range []string{"+/w/#", "w2/+/z"} {
			c.WaitRoute(n3, route(f, ""), true)
		}
		pub := a.Dial(t, "w-pub", packet.V311)
		// "$SYS/w" would match "+/w/#" but for [MQTT-4.7.2-1].
		for _, topic := range []string{"a/w", "x/y/z", "a/w/b/c", "$SYS/w", "w2/k/z", "w2/k/z/z", "w/w", "end/w"} {
			pub.Publish(topic, 1, false, topic, 1)
		}
		for _, topic := range []string{"a/w", "a/w/b/c", "w2/k/z", "w/w", "end/w"} {
			expect(t, s, topic, topic)
		}
	})

	t.Run("NoLocal", func(t *testing.T) {
		// The same client id on two nodes: no-local is by client id
		// [MQTT-3.8.3-3], wherever the publisher is connected.
		x1 := a.Dial(t, "nl-x", packet.V5)
		sub(t, x1, 1, 0, packet.Subscription{Filter: []byte("nl/#"), QoS: 1, NoLocal: true}, filter("nl-end", 1))
		y := a.Dial(t, "nl-y", packet.V5)
		sub(t, y, 1, 0, filter("nl/#", 1))
		c.WaitRoute(a, route("nl/#", ""), true)
		c.WaitRoute(a, route("nl-end", ""), true)
		x2 := b.Dial(t, "nl-x", packet.V5)
		x2.Publish("nl/1", 1, false, "mine", 1)
		x2.Publish("nl-end", 1, false, "end", 2)
		expect(t, y, "nl/1", "mine")
		expect(t, x1, "nl-end", "end") // not nl/1 first
	})

	t.Run("IdentifiersAndProperties", func(t *testing.T) {
		s := a.Dial(t, "sid-sub", packet.V5)
		sub(t, s, 1, 7, filter("sid/+", 1))
		sub(t, s, 2, 9, packet.Subscription{Filter: []byte("sid/#"), QoS: 1, RetainAsPublished: true})
		plain := n3.Dial(t, "sid-plain", packet.V5)
		sub(t, plain, 1, 0, filter("sid/#", 1))
		c.WaitRoute(a, route("sid/#", ""), true)
		c.WaitRoute(a, route("sid/+", ""), true)
		c.WaitRoute(n3, route("sid/#", ""), true)
		pub := b.Dial(t, "sid-pub", packet.V5)
		p := &packet.Publish{Topic: []byte("sid/a"), QoS: 1, Retain: true, PacketID: 1, Payload: []byte("{}")}
		p.Properties.Has = packet.HasPayloadFormat | packet.HasMessageExpiry
		p.Properties.PayloadFormat = 1
		p.Properties.MessageExpiry = 60
		p.Properties.ContentType = []byte("application/json")
		p.Properties.ResponseTopic = []byte("reply/here")
		p.Properties.CorrelationData = []byte{1, 2, 3}
		p.Properties.UserProperties = []packet.UserProperty{{Key: []byte("k"), Value: []byte("v")}}
		pub.Send(p)
		mqtttest.Expect[*packet.Ack](pub)

		got := expect(t, s, "sid/a", "{}")
		ids := slices.Clone(got.Properties.SubscriptionIDs)
		slices.Sort(ids)
		if !slices.Equal(ids, []uint32{7, 9}) {
			t.Errorf("subscription ids %v, want [7 9]", got.Properties.SubscriptionIDs)
		}
		if !got.Retain {
			t.Error("retain-as-published subscriber got retain=0")
		}
		pr := &got.Properties
		if pr.Has&packet.HasPayloadFormat == 0 || pr.PayloadFormat != 1 || string(pr.ContentType) != "application/json" ||
			string(pr.ResponseTopic) != "reply/here" || string(pr.CorrelationData) != "\x01\x02\x03" ||
			len(pr.UserProperties) != 1 || string(pr.UserProperties[0].Key) != "k" || string(pr.UserProperties[0].Value) != "v" {
			t.Errorf("properties not forwarded unchanged: %+v", pr)
		}
		if pr.Has&packet.HasMessageExpiry == 0 || pr.MessageExpiry == 0 || pr.MessageExpiry > 60 {
			t.Errorf("message expiry %d (has=%v), want 1..60", pr.MessageExpiry, pr.Has&packet.HasMessageExpiry != 0)
		}
		if got := expect(t, plain, "sid/a", "{}"); got.Retain || len(got.Properties.SubscriptionIDs) != 0 {
			t.Errorf("plain subscriber: retain=%v ids=%v, want 0 and none", got.Retain, got.Properties.SubscriptionIDs)
		}
	})
}

// TestRoutes checks that only the first subscriber and the last
// unsubscribe are announced, that a withdrawn route stops forwarding, and
// that a killed node's routes vanish and a restarted one starts clean.
func TestRoutes(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	a, b := c.Node("n1"), c.Node("n2")

	s1 := a.Dial(t, "r-sub1", packet.V311)
	sub(t, s1, 1, 0, filter("r/1", 1))
	c.WaitRoute(a, route("r/1", ""), true)
	sent := a.Cluster.Stats().DeltasSent
	s2 := a.Dial(t, "r-sub2", packet.V311)
	sub(t, s2, 1, 0, filter("r/1", 1))
	if got := a.Cluster.Stats().DeltasSent; got != sent {
		t.Fatalf("second subscriber announced: deltas %d -> %d", sent, got)
	}

	pub := b.Dial(t, "r-pub", packet.V311)
	fwd := b.Cluster.Stats().Forwarded
	pub.Publish("r/1", 1, false, "x", 1)
	expect(t, s1, "r/1", "x")
	expect(t, s2, "r/1", "x")
	if got := b.Cluster.Stats().Forwarded; got != fwd+1 {
		t.Fatalf("forwarded %d, want %d: one copy for the node, not per subscriber", got, fwd+1)
	}

	s1.Send(&packet.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("r/1")}})
	mqtttest.Expect[*packet.Unsuback](s1)
	if got := a.Cluster.Stats().DeltasSent; got != sent {
		t.Fatalf("unsubscribe of a non-last subscriber announced: deltas %d -> %d", sent, got)
	}
	s2.Send(&packet.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("r/1")}})
	mqtttest.Expect[*packet.Unsuback](s2)
	if got := a.Cluster.Stats().DeltasSent; got != sent+1 {
		t.Fatalf("last unsubscribe: deltas %d -> %d, want +1", sent, got)
	}
	c.WaitRoute(a, route("r/1", ""), false)
	fwd = b.Cluster.Stats().Forwarded
	pub.Publish("r/1", 1, false, "y", 2) // the PUBACK comes after Forward
	if got := b.Cluster.Stats().Forwarded; got != fwd {
		t.Fatalf("still forwarding after the last unsubscribe: %d -> %d", fwd, got)
	}

	// A killed node's routes vanish everywhere.
	k := a.Dial(t, "r-k", packet.V311)
	sub(t, k, 1, 0, filter("k/1", 0))
	c.WaitRoute(a, route("k/1", ""), true)
	a.Kill()
	mqtttest.Eventually(t, "n1's routes dropped", func() bool {
		for _, n := range c.Live() {
			if n.Cluster.RemoteRoutes("n1") != nil || n.Cluster.Stats().Members != 1 {
				return false
			}
		}
		return true
	})
	live := c.Live()
	for i, n := range live {
		other := live[1-i]
		if got, want := n.Cluster.Stats().RemoteRoutes, len(other.Cluster.LocalRoutes()); got != want {
			t.Errorf("%s holds %d remote routes after n1 died, want %s's %d", n.ID, got, other.ID, want)
		}
	}

	// Restarted: a clean table, rebuilt from its new subscribers.
	a2 := a.Restart()
	c.WaitConverged()
	if rs := b.Cluster.RemoteRoutes("n1"); len(rs) != 0 {
		t.Fatalf("restarted n1 has routes %v on n2, want none", rs)
	}
	k2 := a2.Dial(t, "r-k", packet.V311)
	sub(t, k2, 1, 0, filter("k/2", 1))
	c.WaitRoute(a2, route("k/2", ""), true)
	pub.Publish("k/2", 1, false, "back", 3)
	expect(t, k2, "k/2", "back")
}

// TestOrderAcrossBrokenConnections publishes 1000 QoS 1 messages on one
// node to a subscriber on another while the connection between them is
// cut three times: all arrive, once each, in order.
func TestOrderAcrossBrokenConnections(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	a, b := c.Node("n1"), c.Node("n2")
	s := a.Dial(t, "o-sub", packet.V311)
	sub(t, s, 1, 0, filter("o/#", 1))
	c.WaitRoute(a, route("o/#", ""), true)
	pub := b.Dial(t, "o-pub", packet.V311)

	const total, round = 1000, 50
	next := 0
	for sent := 0; sent < total; sent += round {
		// Pipeline a round of publishes, then collect their PUBACKs.
		for i := sent; i < sent+round; i++ {
			pub.Send(&packet.Publish{Topic: []byte("o/x"), QoS: 1, PacketID: uint16(i%round + 1), Payload: fmt.Appendf(nil, "%d", i)})
			if i > 0 && i%250 == 0 {
				// Mid-round, while messages are on the way.
				if k := cluster.BreakConnections(b.Cluster, "n1"); k == 0 {
					t.Fatalf("no connection to n1 to break at %d", i)
				}
			}
		}
		for range round {
			if a := mqtttest.Expect[*packet.Ack](pub); a.Type != packet.PUBACK {
				t.Fatalf("got %s", mqtttest.Describe(a))
			}
		}
		for ; next < sent+round; next++ {
			expect(t, s, "o/x", fmt.Sprint(next))
		}
	}
	st := b.Cluster.Stats()
	if st.StreamResets == 0 {
		t.Errorf("no stream reset seen: %+v", st)
	}
	t.Logf("sender: resets=%d replayed=%d; receiver duplicates=%d", st.StreamResets, st.Replayed, a.Cluster.Stats().Duplicates)
}

// TestSharedSubscriptions checks that each message of a shared group goes to
// exactly one member cluster-wide, a local member first, and that the
// messages a node took but did not acknowledge go to another node when it
// dies.
func TestSharedSubscriptions(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	a, b, n3 := c.Node("n1"), c.Node("n2"), c.Node("n3")
	members := map[string]*mqtttest.Conn{}
	for _, n := range []*clustertest.Node{a, b} {
		m := n.Dial(t, "g-"+n.ID, packet.V5)
		sub(t, m, 1, 0, filter("$share/g/s/#", 1), filter("s-end", 1))
		c.WaitRoute(n, route("s/#", "g"), true)
		c.WaitRoute(n, route("s-end", ""), true)
		members[n.ID] = m
	}
	// collect reads a member's messages up to the end marker.
	collect := func(m *mqtttest.Conn, seen map[string]int) int {
		t.Helper()
		k := 0
		for {
			p := mqtttest.Expect[*packet.Publish](m)
			m.Ack(p)
			if string(p.Topic) == "s-end" {
				return k
			}
			seen[string(p.Payload)]++
			k++
		}
	}

	t.Run("RemotePublisher", func(t *testing.T) {
		pub := n3.Dial(t, "g-pub3", packet.V5)
		const total = 20
		for i := range total {
			pub.Publish("s/x", 1, false, fmt.Sprint(i), uint16(i+1))
		}
		pub.Publish("s-end", 1, false, "end", 100)
		seen := map[string]int{}
		ka, kb := collect(members["n1"], seen), collect(members["n2"], seen)
		if len(seen) != total || ka+kb != total {
			t.Fatalf("n1 got %d, n2 got %d, distinct %d; want %d in all, once each", ka, kb, len(seen), total)
		}
		if ka == 0 || kb == 0 {
			t.Fatalf("not spread over the nodes: n1 %d, n2 %d", ka, kb)
		}
	})

	t.Run("LocalMemberFirst", func(t *testing.T) {
		pub := a.Dial(t, "g-pub1", packet.V5)
		for i := range 5 {
			pub.Publish("s/local", 1, false, fmt.Sprint(i), uint16(i+1))
		}
		pub.Publish("s-end", 1, false, "end", 100)
		seen := map[string]int{}
		if k := collect(members["n1"], seen); k != 5 {
			t.Fatalf("local member got %d of 5", k)
		}
		if k := collect(members["n2"], seen); k != 0 {
			t.Fatalf("remote member got %d messages although n1 has a member", k)
		}
	})

	t.Run("RedispatchWhenNodeDies", func(t *testing.T) {
		release := cluster.BlockReceive(b.Cluster)
		defer release()
		pub := n3.Dial(t, "g-pub3b", packet.V5)
		const total = 10
		for i := range total {
			pub.Publish("s/y", 1, false, fmt.Sprint(i), uint16(i+1))
		}
		// Some of those were given to n2, which takes them off the wire
		// no more. It dies without acknowledging them.
		b.Kill()
		seen := map[string]int{}
		m := members["n1"]
		for len(seen) < total {
			p := mqtttest.Expect[*packet.Publish](m)
			m.Ack(p)
			seen[string(p.Payload)]++
		}
		pub.Publish("s-end", 1, false, "end", 100)
		if k := collect(m, seen); k != 0 {
			t.Fatalf("%d more after all %d arrived", k, total)
		}
		for p, k := range seen {
			if k != 1 {
				t.Errorf("message %s delivered %d times", p, k)
			}
		}
		if st := n3.Cluster.Stats(); st.Redispatched == 0 {
			t.Errorf("nothing re-dispatched: %+v", st)
		}
	})
}

// TestMissedDeltaRepaired loses every route delta of one node: the others
// notice through its digest and pull its table.
func TestMissedDeltaRepaired(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	a, b := c.Node("n1"), c.Node("n2")
	pulls := b.Cluster.Stats().RouteTablePulls
	cluster.DropDeltas(a.Cluster, true)
	s := a.Dial(t, "md-sub", packet.V311)
	sub(t, s, 1, 0, filter("md/+", 1))
	c.WaitRoute(a, route("md/+", ""), true)
	if got := b.Cluster.Stats().RouteTablePulls; got <= pulls {
		t.Fatalf("route appeared without a pull (%d -> %d)", pulls, got)
	}
	pub := b.Dial(t, "md-pub", packet.V311)
	pub.Publish("md/1", 1, false, "repaired", 1)
	expect(t, s, "md/1", "repaired")

	s.Send(&packet.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("md/+")}})
	mqtttest.Expect[*packet.Unsuback](s)
	c.WaitRoute(a, route("md/+", ""), false)

	// A delta too big for one UDP packet is never gossiped: same repair.
	cluster.DropDeltas(a.Cluster, false)
	long := "md/" + strings.Repeat("l", 1500)
	sub(t, s, 3, 0, filter(long, 0))
	c.WaitRoute(a, route(long, ""), true)
	if st := a.Cluster.Stats(); st.DeltasNotSent == 0 {
		t.Fatalf("long route gossiped: %+v", st)
	}
	pub.Publish(long, 0, false, "long", 0)
	expect(t, s, long, "long")
}

// TestBackpressure makes a peer stop draining: past the high-water mark
// QoS 0 messages are dropped and counted, QoS 1 messages are all kept and
// delivered once the peer drains again.
func TestBackpressure(t *testing.T) {
	c := clustertest.Start(t, 2, clustertest.Options{Cluster: func(cfg *cluster.Config) {
		cfg.Streams = 1
		cfg.QueueBytes = 32 << 10
		cfg.MaxQueueBytes = 16 << 20
		cfg.MaxStall = 20 * time.Millisecond
	}})
	a, b := c.Node("n1"), c.Node("n2")
	s := a.Dial(t, "bp-sub", packet.V311)
	sub(t, s, 1, 0, filter("bp/#", 1))
	c.WaitRoute(a, route("bp/#", ""), true)
	release := cluster.BlockReceive(a.Cluster)
	defer release()

	pub := b.Dial(t, "bp-pub", packet.V311)
	payload := strings.Repeat("x", 1024)
	const q0, q1 = 4000, 50
	for range q0 {
		pub.Send(&packet.Publish{Topic: []byte("bp/0"), Payload: []byte(payload)})
	}
	for i := range q1 {
		pub.Publish("bp/1", 1, false, fmt.Sprint(i), uint16(i+1))
	}
	st := b.Cluster.Stats()
	if st.DroppedQoS0 == 0 || st.DroppedQoS12 != 0 || st.Stalls == 0 {
		t.Fatalf("blocked peer: %+v; want QoS 0 dropped, no QoS 1 dropped", st)
	}
	release()
	got0, next := 0, 0
	for next < q1 {
		p := mqtttest.Expect[*packet.Publish](s)
		s.Ack(p)
		switch string(p.Topic) {
		case "bp/0":
			got0++
		case "bp/1":
			if string(p.Payload) != fmt.Sprint(next) {
				t.Fatalf("QoS 1 message %q, want %d", p.Payload, next)
			}
			next++
		}
	}
	if want := q0 - int(st.DroppedQoS0); got0 != want {
		t.Fatalf("received %d QoS 0 messages, want the %d not dropped", got0, want)
	}
	t.Logf("QoS 0: %d dropped, %d delivered; stalls %d", st.DroppedQoS0, got0, st.Stalls)
}
