package mqttio

import (
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/transport/engineio"
)

// The Engine.IO heartbeat and the MQTT keepalive are independent, and each
// closes a dead client as TCP would: the will fires and a persistent
// session stays for the client's return.

// A client that stops answering Engine.IO pings is dropped by the heartbeat
// alone: its MQTT keepalive is off, so MQTT would wait for ever.
func TestHeartbeatDropsSilentClient(t *testing.T) {
	for _, kind := range []string{"socketio-ws", "socketio-polling", "engineio-ws"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			eo := engineio.Options{PingInterval: 200 * time.Millisecond, PingTimeout: 300 * time.Millisecond}
			n := startNode(t, nodeOptions{EngineIO: eo})
			watcher := mqtttest.Dial(t, n.tcp, packet.V311)
			watcher.Connect(&packet.Connect{ClientID: []byte("watcher"), CleanStart: true})
			watcher.Subscribe(1, 1, "will/#")

			id := "silent-" + kind
			conn, hb := dial(t, n, kind)
			c := mqtttest.Wrap(t, conn, packet.V311)
			c.Connect(&packet.Connect{ClientID: []byte(id), CleanStart: false, KeepAlive: 0,
				WillFlag: true, WillTopic: []byte("will/" + id), WillPayload: []byte("heartbeat"), WillQoS: 1})
			c.Subscribe(2, 1, "hb/"+id)
			c.ExpectNone()

			// Silence: the websocket clients read nothing more, so answer
			// nothing; the polling one keeps polling and ignores the pings.
			hb.silent.Store(true)
			start := time.Now()
			watcher.Ack(watcher.ExpectPublish("will/"+id, "heartbeat"))
			took := time.Since(start)
			t.Logf("%s: dropped by the heartbeat %v after it went silent", kind, took.Round(time.Millisecond))
			if max := eo.PingInterval + eo.PingTimeout + time.Second; took > max {
				t.Errorf("dropped after %v, want within %v", took, max)
			}
			c.ExpectClosed()
			if st := n.broker.Stats(); st.KeepaliveTimeouts != 0 || st.WillsSent != 1 {
				t.Errorf("stats %+v: want no keepalive timeout and one will", st)
			}

			// The session stayed: what was published meanwhile waits for the
			// client, which finds its session present when it comes back.
			watcher.Publish("hb/"+id, 1, false, "while away", 5)
			conn, _ = dial(t, n, kind)
			c = mqtttest.Wrap(t, conn, packet.V311)
			if ack := c.Connect(&packet.Connect{ClientID: []byte(id), CleanStart: false}); !ack.SessionPresent {
				t.Fatalf("CONNACK without session present")
			}
			c.Ack(c.ExpectPublish("hb/"+id, "while away"))
			c.ExpectNone()
		})
	}
}

// A client that answers every ping but sends no MQTT packet for 1.5 times
// its keepalive is dropped by the broker, on every transport alike: DISCONNECT
// Keep Alive timeout (v5), the will, and its session kept.
func TestKeepaliveDropsIdleClient(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			eo := engineio.Options{PingInterval: 100 * time.Millisecond, PingTimeout: 300 * time.Millisecond}
			n := startNode(t, nodeOptions{EngineIO: eo})
			watcher := mqtttest.Dial(t, n.tcp, packet.V311)
			watcher.Connect(&packet.Connect{ClientID: []byte("watcher"), CleanStart: true})
			watcher.Subscribe(1, 1, "will/#")

			id := "idle-" + kind
			conn, hb := dial(t, n, kind)
			c := mqtttest.Wrap(t, conn, packet.V5)
			c.Connect(&packet.Connect{ClientID: []byte(id), CleanStart: true, KeepAlive: 1,
				Properties: packet.Properties{Has: packet.HasSessionExpiry, SessionExpiry: 300},
				WillFlag:   true, WillTopic: []byte("will/" + id), WillPayload: []byte("keepalive"), WillQoS: 1})
			c.Subscribe(2, 1, "ka/"+id)
			start := time.Now()
			// Reading answers the pings on the way, until the broker gives up.
			c.ExpectDisconnect(packet.KeepAliveTimeout)
			took := time.Since(start)
			t.Logf("%s: dropped by the MQTT keepalive after %v idle, %d pings answered meanwhile", kind, took.Round(time.Millisecond), pongs(hb))
			if took < 1400*time.Millisecond || took > 4*time.Second {
				t.Errorf("dropped after %v idle, want 1.5 × the 1 s keepalive", took)
			}
			if hb != nil && hb.pongs.Load() < 5 {
				t.Errorf("only %d pings answered: the heartbeat was not alive", hb.pongs.Load())
			}
			watcher.Ack(watcher.ExpectPublish("will/"+id, "keepalive"))
			if st := n.broker.Stats(); st.KeepaliveTimeouts != 1 {
				t.Errorf("stats %+v: want one keepalive timeout", st)
			}

			watcher.Publish("ka/"+id, 1, false, "while away", 5)
			conn, _ = dial(t, n, kind)
			c = mqtttest.Wrap(t, conn, packet.V5)
			if ack := c.Connect(&packet.Connect{ClientID: []byte(id), CleanStart: false, KeepAlive: 60,
				Properties: packet.Properties{Has: packet.HasSessionExpiry, SessionExpiry: 300}}); !ack.SessionPresent {
				t.Fatalf("CONNACK without session present")
			}
			c.Ack(c.ExpectPublish("ka/"+id, "while away"))
			c.ExpectNone()
		})
	}
}

func pongs(hb *heartbeat) int64 {
	if hb == nil {
		return 0
	}
	return hb.pongs.Load()
}
