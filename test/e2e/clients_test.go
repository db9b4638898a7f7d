package e2e

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// client is a raw MQTT 3.1.1 connection to a node, through its published
// port on the host.
type client struct {
	*mqtttest.Conn
	id  string
	pid uint16
}

// tryConnect dials addr and sends CONNECT. It returns the CONNACK whatever
// its code, or an error, and never fails the test: callers poll with it.
func tryConnect(t *testing.T, addr, id string, clean bool) (*client, *packet.Connack, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	c := &client{Conn: mqtttest.Wrap(t, nc, packet.V311), id: id}
	b, err := packet.AppendPacket(nil, packet.V311, &packet.Connect{
		ProtocolName: []byte("MQTT"), Version: packet.V311, CleanStart: clean, KeepAlive: 60, ClientID: []byte(id),
	})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, nil, err
	}
	p, err := c.Read(10 * time.Second)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("no CONNACK: %w", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		nc.Close()
		return nil, nil, fmt.Errorf("expected CONNACK, got %s", mqtttest.Describe(p))
	}
	if ack.ReasonCode != packet.Success {
		nc.Close()
	}
	return c, ack, nil
}

// connect connects as id to the node behind addr (a function: a node's
// published port changes when it restarts), retrying until a CONNACK
// accepts it, and returns the client and whether a session was present.
func connect(t *testing.T, addr func() string, id string, clean bool) (*client, bool) {
	t.Helper()
	var c *client
	var present bool
	poll(t, 60*time.Second, 500*time.Millisecond, "a CONNACK accepting "+id, func() (bool, string) {
		cc, ack, err := tryConnect(t, addr(), id, clean)
		if err != nil {
			return false, err.Error()
		}
		if ack.ReasonCode != packet.Success {
			return false, mqtttest.Describe(ack)
		}
		c, present = cc, ack.SessionPresent
		return true, ""
	})
	return c, present
}

// nextPID returns the next packet identifier of c.
func (c *client) nextPID() uint16 {
	c.pid++
	if c.pid == 0 {
		c.pid = 1
	}
	return c.pid
}

// publish sends QoS 1 messages to topic and waits for each PUBACK: when it
// returns, every one of them was acknowledged.
func (c *client) publish(t *testing.T, topic string, payloads []string) {
	t.Helper()
	for _, p := range payloads {
		if err := c.PublishE(topic, 1, p, c.nextPID()); err != nil {
			t.Fatalf("%s: publish %s %q: %v", c.id, topic, p, err)
		}
	}
}

// retain sets the retained message of topic (QoS 1, acknowledged).
func (c *client) retain(t *testing.T, topic, payload string) {
	t.Helper()
	if rc := c.Publish(topic, 1, true, payload, c.nextPID()); rc != packet.Success {
		t.Fatalf("%s: retained publish %s: %v", c.id, topic, rc)
	}
}

// subscribe subscribes at QoS 1 and checks the grant.
func (c *client) subscribe(t *testing.T, filters ...string) {
	t.Helper()
	for i, rc := range c.Subscribe(c.nextPID(), 1, filters...) {
		if rc != packet.GrantedQoS1 {
			t.Fatalf("%s: SUBACK for %s: %v", c.id, filters[i], rc)
		}
	}
}

// disconnect sends DISCONNECT and closes the connection.
func (c *client) disconnect() {
	c.Conn.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.Conn.Conn.Write(packet.AppendDisconnect(nil, packet.V311, &packet.Disconnect{}))
	c.Conn.Conn.Close()
}

// messages is what a subscriber received: payload → count.
type messages map[string]int

// receive reads PUBLISHes (acknowledging them) until every payload of want
// has arrived, failing after timeout with what is missing. Duplicates
// (QoS 1 allows them) are counted, not refused.
func (c *client) receive(t *testing.T, got messages, want []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := missingOf(got, want)
		if len(missing) == 0 {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s: %d of %d acknowledged messages never arrived, e.g. %q", c.id, len(missing), len(want), missing[:min(len(missing), 5)])
		}
		p, err := c.ReadPublish(left)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			t.Fatalf("%s: waiting for %d messages, e.g. %q: %v", c.id, len(missing), missing[:min(len(missing), 5)], err)
		}
		got[string(p.Payload)]++
	}
}

func missingOf(got messages, want []string) []string {
	var missing []string
	for _, w := range want {
		if got[w] == 0 {
			missing = append(missing, w)
		}
	}
	return missing
}

// batch names n messages: prefix-0 … prefix-(n-1).
func batch(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// awaitRoute publishes probe messages from pub until sub receives one:
// routes between nodes converge by gossip, so a stream is started only
// once the subscriber's node is known to the publisher's.
func awaitRoute(t *testing.T, pub, sub *client, topic string) {
	t.Helper()
	n := 0
	poll(t, 60*time.Second, 10*time.Millisecond, fmt.Sprintf("a route from %s to %s for %s", pub.id, sub.id, topic), func() (bool, string) {
		n++
		probe := fmt.Sprintf("probe-%s-%d", pub.id, n)
		if err := pub.PublishE(topic, 1, probe, pub.nextPID()); err != nil {
			t.Fatalf("%s: probe: %v", pub.id, err)
		}
		p, err := sub.ReadPublish(250 * time.Millisecond)
		if err != nil {
			return false, err.Error()
		}
		// Probes still on their way are read (and acknowledged) later
		// by receive, which ignores what it does not wait for.
		return strings.HasPrefix(string(p.Payload), "probe-"), mqtttest.Describe(p)
	})
}

// retained subscribes a fresh clean session on addr to topic and returns
// the retained message it gets ("" when none arrives before the ping).
func retained(t *testing.T, addr func() string, id, topic string) string {
	t.Helper()
	c, _ := connect(t, addr, id, true)
	defer c.disconnect()
	c.subscribe(t, topic)
	for _, p := range c.Sync() {
		if pub, ok := p.(*packet.Publish); ok && string(pub.Topic) == topic {
			if pub.QoS > 0 {
				c.Ack(pub)
			}
			return string(pub.Payload)
		}
	}
	return ""
}
