package mqttio

import (
	"fmt"
	"net"
	"testing"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// MQTT over WebSocket (/mqtt) with Debian's python3-paho-mqtt against the
// real broker: QoS 0/1/2 both ways with a TCP client, retained messages
// both ways, and a clean DISCONNECT.
func TestPahoWebsocket(t *testing.T) {
	t.Parallel()
	needPython(t, "paho.mqtt.client", "python3-paho-mqtt")
	n := startNode(t, nodeOptions{})
	tcp := mqtttest.Dial(t, n.tcp, packet.V311)
	tcp.Connect(&packet.Connect{ClientID: []byte("tcp"), CleanStart: true})
	tcp.Subscribe(1, 2, "ws/up/#")
	tcp.Publish("ws/down/retained", 1, true, "kept", 2) // waits for paho's subscription

	host, port, _ := net.SplitHostPort(n.host)
	p := startProc(t, python, "testdata/paho_ws.py", host, port, "paho-ws")
	p.expect("connected 0")
	if v, ok := n.broker.Client("paho-ws"); !ok || v.Transport != "ws" {
		t.Fatalf("broker sees paho-ws as %+v", v)
	}
	p.send("sub ws/down/# 2")
	p.expect("subscribed " + p.expectPrefix("sent ") + " 2")
	p.expect("msg ws/down/retained 1 1 kept") // QoS 1 as published, retain flag set

	for qos := range byte(3) {
		payload := fmt.Sprintf("from paho at QoS %d", qos)
		p.send(fmt.Sprintf("pub ws/up/q %d 0 %s", qos, payload))
		p.expect("published " + p.expectPrefix("sent ")) // its PUBACK / PUBCOMP came back
		m := tcp.ExpectPublish("ws/up/q", payload)
		if m.QoS != qos || m.Retain {
			t.Fatalf("TCP got %s", mqtttest.Describe(m))
		}
		tcp.Ack(m)

		payload = fmt.Sprintf("from TCP at QoS %d", qos)
		tcp.Publish("ws/down/q", qos, false, payload, uint16(10+qos))
		p.expect(fmt.Sprintf("msg ws/down/q %d 0 %s", qos, payload))
	}
	// paho acknowledged everything it got: nothing is left in flight.
	mqtttest.Eventually(t, "paho's acks", func() bool { v, _ := n.broker.Client("paho-ws"); return v.Inflight == 0 })

	// A retained message from paho reaches a subscriber that comes later.
	p.send("pub ws/up/retained 2 1 paho kept")
	p.expect("published " + p.expectPrefix("sent "))
	tcp.Ack(tcp.ExpectPublish("ws/up/retained", "paho kept"))
	late := mqtttest.Dial(t, n.tcp, packet.V311)
	late.Connect(&packet.Connect{ClientID: []byte("late"), CleanStart: true})
	late.Subscribe(1, 2, "ws/up/retained")
	if m := late.ExpectPublish("ws/up/retained", "paho kept"); !m.Retain || m.QoS != 2 {
		t.Fatalf("late subscriber got %s", mqtttest.Describe(m))
	} else {
		late.Ack(m)
	}

	p.send("quit")
	p.expect("bye")
	p.wait()
	mqtttest.Eventually(t, "the broker to drop paho-ws", func() bool { _, ok := n.broker.Client("paho-ws"); return !ok })
	tcp.ExpectNone()
}
