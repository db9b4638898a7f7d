package broker_test

import (
	"log/slog"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// start runs a broker for one test: quiet, and without $SYS traffic unless
// the test asks for it.
func start(t testing.TB, opts broker.Options) (*broker.Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	return startServer(t, opts)
}

// readModes names the two ways the broker reads a connection: parked in
// the poller (plain TCP), and a reader goroutine (every other net.Conn).
var readModes = []struct {
	name      string
	noNetpoll bool
}{{"netpoll", false}, {"goroutine", true}}

var versions = []struct {
	name string
	v    packet.Version
}{{"v3.1", packet.V31}, {"v3.1.1", packet.V311}, {"v5", packet.V5}}

// forVersions runs f once per protocol version, as parallel subtests.
func forVersions(t *testing.T, f func(t *testing.T, v packet.Version)) {
	for _, tc := range versions {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f(t, tc.v)
		})
	}
}

// client connects a client (clean session / clean start when clean) and
// returns it with its CONNACK. mods adjust the CONNECT before it is sent.
func client(t testing.TB, addr string, v packet.Version, id string, clean bool, mods ...func(*packet.Connect)) (*mqtttest.Conn, *packet.Connack) {
	t.Helper()
	c := mqtttest.Dial(t, addr, v)
	cp := &packet.Connect{ClientID: []byte(id), CleanStart: clean}
	for _, m := range mods {
		m(cp)
	}
	return c, c.Connect(cp)
}

// sessionExpiry sets the v5 Session Expiry Interval of a CONNECT.
func sessionExpiry(secs uint32) func(*packet.Connect) {
	return func(cp *packet.Connect) {
		cp.Properties.Has |= packet.HasSessionExpiry
		cp.Properties.SessionExpiry = secs
	}
}

func keepAlive(secs uint16) func(*packet.Connect) {
	return func(cp *packet.Connect) { cp.KeepAlive = secs }
}

// withWill sets a will message.
func withWill(topic, payload string, qos byte, retain bool) func(*packet.Connect) {
	return func(cp *packet.Connect) {
		cp.WillFlag, cp.WillTopic, cp.WillPayload, cp.WillQoS, cp.WillRetain = true, []byte(topic), []byte(payload), qos, retain
	}
}

// sub subscribes with full options and checks the granted codes.
func sub(t testing.TB, c *mqtttest.Conn, pid uint16, s packet.Subscription, id uint32, want packet.ReasonCode) {
	t.Helper()
	p := &packet.Subscribe{PacketID: pid, Subscriptions: []packet.Subscription{s}}
	if id != 0 {
		p.Properties.SubscriptionIDs = []uint32{id}
	}
	ack := c.SubscribeWith(p)
	if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != want {
		t.Fatalf("SUBACK %v, want [%#x]", ack.ReasonCodes, byte(want))
	}
}

// expectCodes checks SUBACK / UNSUBACK codes.
func expectCodes(t testing.TB, got []packet.ReasonCode, want ...packet.ReasonCode) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("codes %v, want %v", got, want)
		}
	}
}

// recv reads the next PUBLISH, checks topic and payload and acknowledges it.
func recv(t testing.TB, c *mqtttest.Conn, topic, payload string) *packet.Publish {
	t.Helper()
	p := c.ExpectPublish(topic, payload)
	c.Ack(p)
	return p
}

// rawConnect encodes a CONNECT.
func rawConnect(cp *packet.Connect) []byte { return packet.AppendConnect(nil, cp) }

// vid makes a client id unique per protocol version, for subtests that
// share a server.
func vid(prefix string, v packet.Version) string { return prefix + "-v" + string(rune('0'+v)) }

// recvAll reads n PUBLISHes, then acknowledges them all (completing the
// QoS 2 flows), and returns them in arrival order.
func recvAll(t testing.TB, c *mqtttest.Conn, n int) []*packet.Publish {
	t.Helper()
	ms := make([]*packet.Publish, n)
	for i := range ms {
		ms[i] = mqtttest.Expect[*packet.Publish](c)
	}
	rels := 0
	for _, m := range ms {
		switch m.QoS {
		case 1:
			c.Send(&packet.Ack{Type: packet.PUBACK, PacketID: m.PacketID})
		case 2:
			c.Send(&packet.Ack{Type: packet.PUBREC, PacketID: m.PacketID})
			rels++
		}
	}
	for ; rels > 0; rels-- {
		rel := mqtttest.Expect[*packet.Ack](c)
		if rel.Type != packet.PUBREL {
			t.Fatalf("expected PUBREL, got %s", mqtttest.Describe(rel))
		}
		c.Send(&packet.Ack{Type: packet.PUBCOMP, PacketID: rel.PacketID})
	}
	return ms
}

// dialRaw opens a connection without connecting.
func dialRaw(t testing.TB, addr string, v packet.Version) *mqtttest.Conn {
	t.Helper()
	return mqtttest.Dial(t, addr, v)
}
