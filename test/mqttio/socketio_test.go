package mqttio

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/transport/engineio"
)

// A short heartbeat, so that a polling client that vanished (it cannot say
// so: no socket of its stays open) is found dead within a second.
var fastHeartbeat = engineio.Options{PingInterval: 250 * time.Millisecond, PingTimeout: 500 * time.Millisecond}

// MQTT.IO with Debian's python3-socketio against the real broker, over each
// transport: connect, subscribe, publish at QoS 0/1/2 with every ack, receive
// what a TCP client publishes at QoS 0/1/2, PINGREQ, disconnect (no will),
// and a will when the client is killed.
func TestSocketIOPython(t *testing.T) {
	for _, tc := range []struct {
		name, transports, transport string
		requests                    map[string]int // Engine.IO requests per graceful client: at least
	}{
		{"polling", "polling", "polling", map[string]int{"polling-handshake": 1, "polling": 2}},
		{"websocket", "websocket", "websocket", map[string]int{"websocket-handshake": 1}},
		// python-engineio upgrades within connect(): the open packet comes
		// over polling, everything else over the websocket.
		{"upgrade", "polling,websocket", "websocket", map[string]int{"polling-handshake": 1, "websocket-upgrade": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := startNode(t, nodeOptions{EngineIO: fastHeartbeat})
			up, down := "io/"+tc.name+"/up", "io/"+tc.name+"/down"

			tcp := mqtttest.Dial(t, n.tcp, packet.V311)
			tcp.Connect(&packet.Connect{ClientID: []byte("tcp-" + tc.name), CleanStart: true})
			if codes := tcp.Subscribe(1, 2, up+"/#", "will/#"); codes[0] != 2 || codes[1] != 2 {
				t.Fatalf("TCP SUBACK %v", codes)
			}

			// The graceful client: everything, then DISCONNECT.
			pipe, tr := startSIOPipe(t, n.url, tc.transports)
			if tr != tc.transport {
				t.Fatalf("connected over %s, want %s", tr, tc.transport)
			}
			id := "py-" + tc.name
			c := mqtttest.Wrap(t, pipe, packet.V311)
			c.Connect(&packet.Connect{ClientID: []byte(id), CleanStart: true, KeepAlive: 60,
				WillFlag: true, WillTopic: []byte("will/" + id), WillPayload: []byte("unexpected"), WillQoS: 1})
			if v, ok := n.broker.Client(id); !ok || v.Transport != "socketio" {
				t.Fatalf("broker sees %s as %+v", id, v)
			}
			if codes := c.Subscribe(7, 2, down+"/#"); codes[0] != 2 {
				t.Fatalf("SUBACK %v", codes)
			}
			for qos := range byte(3) {
				payload := fmt.Sprintf("from python at QoS %d", qos)
				if rc := c.Publish(up+"/q", qos, false, payload, uint16(10+qos)); rc != packet.Success {
					t.Fatalf("QoS %d publish: %v", qos, rc)
				}
				p := tcp.ExpectPublish(up+"/q", payload)
				if p.QoS != qos {
					t.Fatalf("TCP got QoS %d, want %d", p.QoS, qos)
				}
				tcp.Ack(p)

				payload = fmt.Sprintf("from TCP at QoS %d", qos)
				tcp.Publish(down+"/q", qos, false, payload, uint16(20+qos))
				p = c.ExpectPublish(down+"/q", payload)
				if p.QoS != qos {
					t.Fatalf("python got QoS %d, want %d", p.QoS, qos)
				}
				c.Ack(p) // QoS 2: PUBREC, PUBREL, PUBCOMP
			}
			c.ExpectNone() // PINGREQ → PINGRESP, nothing else pending
			if got := pipe.transport(t); got != tc.transport {
				t.Fatalf("ended on %s, want %s", got, tc.transport)
			}
			for kind, min := range tc.requests {
				if got := n.requestCount(kind); got < min {
					t.Errorf("%d %s requests, want at least %d (all: %s)", got, kind, min, n.requestCounts())
				}
			}
			for _, kind := range []string{"polling-handshake", "websocket-handshake", "websocket-upgrade", "polling"} {
				if _, ok := tc.requests[kind]; !ok && n.requestCount(kind) > 0 {
					t.Errorf("unexpected %s requests (all: %s)", kind, n.requestCounts())
				}
			}
			c.Send(&packet.Disconnect{})
			if l := pipe.ctrlLine(t); l != "disconnected" {
				t.Fatalf("after DISCONNECT the client printed %q, want disconnected", l)
			}
			mqtttest.Eventually(t, "the broker to drop "+id, func() bool { _, ok := n.broker.Client(id); return !ok })
			tcp.ExpectNone() // no will after a DISCONNECT

			// The killed client: its will is published.
			pipe, _ = startSIOPipe(t, n.url, tc.transports)
			id = "py-killed-" + tc.name
			c = mqtttest.Wrap(t, pipe, packet.V311)
			c.Connect(&packet.Connect{ClientID: []byte(id), CleanStart: true, KeepAlive: 60,
				WillFlag: true, WillTopic: []byte("will/" + id), WillPayload: []byte("killed"), WillQoS: 1})
			c.ExpectNone()
			pipe.p.kill()
			start := time.Now()
			p := tcp.ExpectPublish("will/"+id, "killed")
			tcp.Ack(p)
			t.Logf("%s: will %v after SIGKILL", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}
