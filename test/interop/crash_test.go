package interop

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// These tests drive the broker with the raw-protocol client of
// broker/mqtttest, so that they see every packet, flag and packet id.

const (
	crashAcked   = 200 // SIGKILL once this many messages were acknowledged
	crashMax     = 2000
	crashWindow  = 16 // QoS 1/2 publishes the publisher keeps in flight
	crashQ1      = "crash/q1"
	crashQ2      = "crash/q2"
	crashRetains = "crash/ret/"
)

// crashPayload is message i of the publisher: odd i at QoS 1 on crash/q1,
// even i at QoS 2 on crash/q2.
func crashPayload(i int) string { return fmt.Sprintf("m-%05d", i) }
func crashQoS(i int) byte       { return byte(1 + (i+1)%2) }
func crashTopic(i int) string {
	if crashQoS(i) == 1 {
		return crashQ1
	}
	return crashQ2
}

func crashIndex(payload string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(payload, "m-"))
	if err != nil || !strings.HasPrefix(payload, "m-") {
		return -1
	}
	return n
}

// sessionConnect is a CONNECT that keeps the session: clean session 0 on
// v3.1.1, clean start 0 and an hour of session expiry on v5.
func sessionConnect(v packet.Version, id string) *packet.Connect {
	c := &packet.Connect{ClientID: []byte(id), KeepAlive: 60}
	if v == packet.V5 {
		c.Properties.Has |= packet.HasSessionExpiry
		c.Properties.SessionExpiry = 3600
	}
	return c
}

type crashSubscriber struct {
	id string
	v  packet.Version
}

// The persistent subscribers that are away while the publisher publishes.
var crashSubscribers = []crashSubscriber{{"crash-sub-311", packet.V311}, {"crash-sub-5", packet.V5}}

// crashOnline is the client id of the subscriber that stays connected.
const crashOnline = "crash-sub-online"

// TestCrashRestart: persistent subscribers (v3.1.1 and v5) subscribe to
// crash/q1 at QoS 1 and crash/q2 at QoS 2 and go away; a publisher
// publishes QoS 1 and QoS 2 messages, counting only those the broker
// acknowledged (PUBACK, PUBCOMP), and the broker is killed with SIGKILL
// while it publishes. Restarted on the same data directory, it still has
// the sessions (session present) and delivers every acknowledged message:
// QoS 1 at least once, QoS 2 exactly once, in the publisher's order per
// topic. The retained messages acknowledged before the kill survive too:
// replaced ones hold the last value, deleted ones stay deleted.
func TestCrashRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := startBroker(t, dir)

	for _, s := range crashSubscribers {
		c := mqtttest.Dial(t, b.addr, s.v)
		c.Connect(sessionConnect(s.v, s.id))
		subscribe(t, c, 1, []string{crashQ1, crashQ2}, []byte{1, 2})
		c.Send(&packet.Disconnect{})
		c.ExpectClosed()
	}

	// One more persistent subscriber stays connected and never acknowledges
	// anything: what it got before the kill is inflight, to be re-sent with
	// DUP set and the same packet id [MQTT-4.4.0-1, MQTT-3.3.1-1].
	online := mqtttest.Dial(t, b.addr, packet.V5)
	online.Connect(sessionConnect(packet.V5, crashOnline))
	subscribe(t, online, 1, []string{crashQ1, crashQ2}, []byte{1, 2})
	inflightCh := make(chan map[int]*packet.Publish, 1)
	go func() {
		got := map[int]*packet.Publish{}
		for {
			p, err := online.Read(waitTimeout)
			if err != nil {
				inflightCh <- got
				return
			}
			if p, ok := p.(*packet.Publish); ok {
				got[crashIndex(string(p.Payload))] = p
			}
		}
	}()

	pub := mqtttest.Dial(t, b.addr, packet.V311)
	pub.Connect(&packet.Connect{ClientID: []byte("crash-pub"), CleanStart: true, KeepAlive: 60})
	// Retained: keep is set then replaced, gone is set then deleted.
	retained := []struct {
		topic, payload string
		qos            byte
	}{
		{crashRetains + "keep", "old", 1},
		{crashRetains + "gone", "doomed", 2},
		{crashRetains + "keep", "new", 2},
		{crashRetains + "gone", "", 1},
		{crashRetains + "q1", "kept-q1", 1},
	}
	for i, r := range retained {
		if rc := pub.Publish(r.topic, r.qos, true, r.payload, uint16(60000+i)); rc != packet.Success {
			t.Fatalf("retained publish %v: %v", r, rc)
		}
	}

	acked := make(chan int, crashMax)
	type result struct {
		written int
		err     error
	}
	pubDone := make(chan result, 1)
	go func() {
		n, err := publishUntilError(pub, acked)
		pubDone <- result{n, err}
	}()
	var got []int
	for len(got) < crashAcked {
		i, err := recv(acked, waitTimeout)
		if err != nil {
			t.Fatalf("publisher: %d messages acknowledged, then %v", len(got), err)
		}
		got = append(got, i)
	}
	b.kill()
	res, err := recv(pubDone, waitTimeout)
	if err != nil {
		t.Fatal("the publisher did not notice the broker's death")
	}
	if res.err == nil {
		t.Fatalf("the publisher published all %d messages before the kill", crashMax)
	}
	close(acked)
	for i := range acked {
		got = append(got, i)
	}
	sent := res.written // those in flight at the kill may arrive too
	inflight, err := recv(inflightCh, waitTimeout)
	if err != nil {
		t.Fatal("the online subscriber did not notice the broker's death")
	}
	t.Logf("%d messages acknowledged before SIGKILL, %d sent (publisher: %v)", len(got), sent, res.err)

	b = startBroker(t, dir)
	for _, s := range append(crashSubscribers, crashSubscriber{crashOnline, packet.V5}) {
		t.Run(s.id, func(t *testing.T) {
			c := mqtttest.Dial(t, b.addr, s.v)
			if ack := c.Connect(sessionConnect(s.v, s.id)); !ack.SessionPresent {
				t.Fatalf("CONNACK after the restart: session present 0, want 1 [MQTT-3.2.2-2 v3.1.1, MQTT-3.2.2-3 v5]")
			}
			var before map[int]*packet.Publish
			if s.id == crashOnline {
				before = inflight
				t.Logf("%d messages received unacknowledged before the kill", len(before))
			}
			recvAll(t, b, c, s.id, got, sent, before)
		})
	}

	t.Run("retained", func(t *testing.T) {
		ks := retainedNow(t, b, packet.V5, crashRetains+"#")
		sameKeys(t, "retained messages after SIGKILL", ks, []msgKey{
			{crashRetains + "keep", "new", 2, true},
			{crashRetains + "q1", "kept-q1", 1, true},
		})
	})
}

// publishUntilError publishes message 1, 2, ... (see crashPayload) on the
// v3.1.1 connection c, keeping up to crashWindow in flight, and sends the
// number of each message on acked once its PUBACK or PUBCOMP arrives. It
// returns the error that stopped it (the broker's death, normally) and a
// number no message it wrote exceeds.
func publishUntilError(c *mqtttest.Conn, acked chan<- int) (int, error) {
	write := func(pkt any) error {
		b, err := packet.AppendPacket(nil, packet.V311, pkt)
		if err != nil {
			return err
		}
		c.Conn.SetWriteDeadline(time.Now().Add(waitTimeout))
		_, err = c.Conn.Write(b)
		return err
	}
	next, inflight := 1, 0
	for {
		for inflight < crashWindow && next <= crashMax {
			p := &packet.Publish{Topic: []byte(crashTopic(next)), QoS: crashQoS(next), PacketID: uint16(next), Payload: []byte(crashPayload(next))}
			if err := write(p); err != nil {
				return next, err
			}
			next++
			inflight++
		}
		if inflight == 0 {
			return next - 1, nil
		}
		p, err := c.Read(waitTimeout)
		if err != nil {
			return next, err
		}
		a, ok := p.(*packet.Ack)
		if !ok {
			return next, fmt.Errorf("unexpected %s", mqtttest.Describe(p))
		}
		i := int(a.PacketID)
		switch {
		case a.Type == packet.PUBACK && crashQoS(i) == 1, a.Type == packet.PUBCOMP && crashQoS(i) == 2:
			acked <- i
			inflight--
		case a.Type == packet.PUBREC && crashQoS(i) == 2:
			if err := write(&packet.Ack{Type: packet.PUBREL, PacketID: a.PacketID}); err != nil {
				return next, err
			}
		default:
			return next, fmt.Errorf("unexpected %s", mqtttest.Describe(p))
		}
	}
}

// subscribe sends one SUBSCRIBE and checks the SUBACK grants want.
func subscribe(t testing.TB, c *mqtttest.Conn, pid uint16, filters []string, qos []byte) {
	t.Helper()
	s := &packet.Subscribe{PacketID: pid}
	for i, f := range filters {
		s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: []byte(f), QoS: qos[i]})
	}
	c.Send(s)
	ack := mqtttest.Expect[*packet.Suback](c)
	var want []packet.ReasonCode
	for _, q := range qos {
		want = append(want, packet.ReasonCode(q))
	}
	if ack.PacketID != pid || !slices.Equal(ack.ReasonCodes, want) {
		t.Fatalf("SUBACK %s, want id %d codes %v", mqtttest.Describe(ack), pid, want)
	}
}

// recvAll receives the queued messages on c, acknowledging each, until a
// marker published once every message in acked has arrived comes in too
// (so that duplicates queued behind them show up), and checks them: every
// acknowledged message arrives, QoS 1 at least once, QoS 2 exactly once
// (exactly once, section 4.3.3), at its QoS, in order per topic [MQTT-4.6.0-6]; nothing
// numbered above sent, which was never published, arrives. before holds the
// messages the session received, unacknowledged, before the restart: they
// must come again first, with DUP set and their packet id [MQTT-4.4.0-1,
// MQTT-3.3.1-1].
func recvAll(t *testing.T, b *broker, c *mqtttest.Conn, id string, acked []int, sent int, before map[int]*packet.Publish) {
	t.Helper()
	want := map[int]bool{}
	for _, i := range acked {
		want[i] = true
	}
	const marker = "marker"
	seen := map[int]int{}
	lastByTopic := map[string]int{}
	pendingRel := map[uint16]bool{}
	total := 0
	markerSent, markerSeen := false, false
	for !markerSeen || len(pendingRel) > 0 {
		if !markerSent && allSeen(want, seen) {
			m := mqtttest.Dial(t, b.addr, packet.V311)
			m.Connect(&packet.Connect{ClientID: []byte(id + "-marker"), CleanStart: true})
			m.Publish(crashQ1, 1, false, marker, 1)
			markerSent = true
		}
		p, err := c.Read(waitTimeout)
		if err != nil {
			var missing []int
			for i := range want {
				if seen[i] == 0 {
					missing = append(missing, i)
				}
			}
			slices.Sort(missing)
			t.Fatalf("after %d messages (%d distinct): %v; acknowledged messages missing: %d %v",
				total, len(seen), err, len(missing), missing)
		}
		switch p := p.(type) {
		case *packet.Publish:
			switch p.QoS {
			case 1:
				c.Send(&packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID})
			case 2:
				c.Send(&packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID})
				pendingRel[p.PacketID] = true
			}
			topic, payload := string(p.Topic), string(p.Payload)
			if payload == marker && topic == crashQ1 {
				markerSeen = true
				continue
			}
			i := crashIndex(payload)
			if i <= 0 || i > sent || topic != crashTopic(i) || p.QoS != crashQoS(i) || p.Retain {
				t.Fatalf("unexpected message (last published: %d): %s", sent, mqtttest.Describe(p))
			}
			if old, ok := before[i]; ok && seen[i] == 0 && (!p.Dup || p.PacketID != old.PacketID) {
				t.Errorf("message %d, sent before the kill as %s, re-sent as %s: want DUP=1 and the same packet id [MQTT-4.4.0-1, MQTT-3.3.1-1]",
					i, mqtttest.Describe(old), mqtttest.Describe(p))
			}
			total++
			seen[i]++
			if seen[i] > 1 && p.QoS == 2 {
				t.Fatalf("QoS 2 message %d delivered twice (exactly once, section 4.3.3): %s", i, mqtttest.Describe(p))
			}
			if seen[i] == 1 {
				if last := lastByTopic[topic]; i < last {
					t.Fatalf("order on %s: message %d after %d [MQTT-4.6.0-6]", topic, i, last)
				}
				lastByTopic[topic] = i
			}
		case *packet.Ack:
			if p.Type != packet.PUBREL || !pendingRel[p.PacketID] {
				t.Fatalf("unexpected %s", mqtttest.Describe(p))
			}
			delete(pendingRel, p.PacketID)
			c.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: p.PacketID})
		default:
			t.Fatalf("unexpected %s", mqtttest.Describe(p))
		}
	}
	t.Logf("%d messages received, %d distinct; %d acknowledged to the publisher", total, len(seen), len(want))
}

func allSeen(want map[int]bool, seen map[int]int) bool {
	for i := range want {
		if seen[i] == 0 {
			return false
		}
	}
	return true
}

// retainedNow subscribes to filter on a new connection and returns the
// retained messages it gets before a marker published after the SUBACK,
// sorted by topic.
func retainedNow(t testing.TB, b *broker, v packet.Version, filter string) []msgKey {
	t.Helper()
	c := mqtttest.Dial(t, b.addr, v)
	c.Connect(&packet.Connect{ClientID: []byte("retained-check"), CleanStart: true})
	subscribe(t, c, 1, []string{filter, "marker/retained"}, []byte{2, 0})
	m := mqtttest.Dial(t, b.addr, packet.V311)
	m.Connect(&packet.Connect{ClientID: []byte("retained-marker"), CleanStart: true})
	m.Publish("marker/retained", 0, false, "end", 0)
	var ks []msgKey
	for {
		p := mqtttest.Expect[*packet.Publish](c)
		if string(p.Topic) == "marker/retained" {
			break
		}
		ks = append(ks, msgKey{string(p.Topic), string(p.Payload), int(p.QoS), p.Retain})
		// Not acknowledged: a PUBREC would have its PUBREL race the next
		// PUBLISH, and a few unacknowledged messages are no harm.
	}
	slices.SortFunc(ks, func(a, b msgKey) int { return strings.Compare(a.Topic, b.Topic) })
	return ks
}

// TestGracefulShutdown: on SIGINT the broker sends DISCONNECT with reason
// 0x8B (Server shutting down) to v5 clients (raw, MQTT.js, mosquitto_sub), closes v3.1.1
// connections (which have no server DISCONNECT), and exits 0 within the
// shutdown timeout. (Paho Python 1.6 is not used here: it drops the reason
// code of a DISCONNECT without properties, eclipse-paho/paho.mqtt.python#860.)
// A persistent session and a QoS 1 message queued for it
// survive the stop.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := startBroker(t, dir)

	v5 := mqtttest.Dial(t, b.addr, packet.V5)
	v5.Connect(sessionConnect(packet.V5, "shutdown-v5"))
	subscribe(t, v5, 1, []string{"shutdown/t"}, []byte{1})
	v3 := mqtttest.Dial(t, b.addr, packet.V311)
	v3.Connect(&packet.Connect{ClientID: []byte("shutdown-v311"), CleanStart: true})
	jsV5 := mqttjs.connect(t, b, "5", "--id", "shutdown-mqttjs")
	mosqV5 := startMosqSub(t, b, "mqttv5", "-t", "shutdown/mosq")

	// A message queued for the session while it is away.
	v5.Send(&packet.Disconnect{})
	v5.ExpectClosed()
	pub := mqtttest.Dial(t, b.addr, packet.V311)
	pub.Connect(&packet.Connect{ClientID: []byte("shutdown-pub"), CleanStart: true})
	pub.Publish("shutdown/t", 1, false, "queued", 1)
	pub.Send(&packet.Disconnect{})
	pub.ExpectClosed()
	v5 = mqtttest.Dial(t, b.addr, packet.V5)
	v5.Connect(sessionConnect(packet.V5, "shutdown-v5-other"))

	b.signal(syscall.SIGINT)

	got := v5.ExpectClosed()
	if len(got) != 1 {
		t.Fatalf("v5 client: got %d packets before the close, want one DISCONNECT: %v", len(got), describe(got))
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.ReasonCode(0x8B) {
		t.Fatalf("v5 client: got %s, want DISCONNECT 0x8B (Server shutting down)", mqtttest.Describe(got[0]))
	}
	if got := v3.ExpectClosed(); len(got) != 0 {
		t.Fatalf("v3.1.1 client: got %v before the close, want nothing (no server DISCONNECT in v3.1.1)", describe(got))
	}
	if e := jsV5.expect("server-disconnect"); e.RC != 0x8B {
		t.Fatalf("MQTT.js v5 client: DISCONNECT %s, want reason code 139 (0x8B Server shutting down)", e)
	}
	for {
		l := mosqV5.mustLine("the DISCONNECT")
		if strings.HasPrefix(l, "Received DISCONNECT") {
			if l != "Received DISCONNECT (139)" {
				t.Fatalf("mosquitto_sub v5: %q, want reason code 139 (0x8B Server shutting down)", l)
			}
			break
		}
	}
	if code := b.wait(15 * time.Second); code != 0 {
		t.Fatalf("mqttio exited with %s after SIGINT, want exit status 0\n%s", b.exitStatus(), b.errW.String())
	}

	b = startBroker(t, dir)
	c := mqtttest.Dial(t, b.addr, packet.V5)
	if ack := c.Connect(sessionConnect(packet.V5, "shutdown-v5")); !ack.SessionPresent {
		t.Fatal("session lost in the shutdown: session present 0 after the restart")
	}
	p := c.ExpectPublish("shutdown/t", "queued")
	if p.QoS != 1 {
		t.Fatalf("queued message: %s", mqtttest.Describe(p))
	}
	c.Ack(p)
}

func describe(ps []any) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = mqtttest.Describe(p)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
