package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// A client over its message rate is slowed down, not cut off: every message
// arrives, and the publisher cannot go faster than its budget (a lower
// bound that a slow machine only makes longer).
func TestMessageRateSlowsPublisher(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			_, addr := start(t, broker.Options{MaxMessageRate: 40, DisableNetpoll: mode.noNetpoll})
			sub, _ := client(t, addr, packet.V5, "sub", true)
			sub.Subscribe(1, 0, "rate/#")
			pub, _ := client(t, addr, packet.V5, "pub", true)
			begin := time.Now()
			var burst []byte
			for i := range 80 {
				burst = packet.AppendPublish(burst, packet.V5, &packet.Publish{Topic: []byte("rate/x"), Payload: fmt.Appendf(nil, "%d", i)})
			}
			pub.SendRaw(burst) // 80 messages at once: 40 within the burst, 40 over
			for i := range 80 {
				sub.ExpectPublish("rate/x", fmt.Sprint(i))
			}
			// 40 messages over a 40/s budget take at least a second.
			if took := time.Since(begin); took < 900*time.Millisecond {
				t.Fatalf("80 messages at 40/s delivered in %v: not throttled", took)
			}
			pub.Sync() // still connected
		})
	}
}

// A client far over its message rate is disconnected with 0x96.
func TestMessageRateDisconnects(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			_, addr := start(t, broker.Options{MaxMessageRate: 10, MaxThrottle: time.Second, DisableNetpoll: mode.noNetpoll})
			pub, _ := client(t, addr, packet.V5, "flood", true)
			var burst []byte
			for range 200 {
				burst = packet.AppendPublish(burst, packet.V5, &packet.Publish{Topic: []byte("flood"), Payload: []byte("x")})
			}
			pub.SendRaw(burst) // 19 s of work at 10/s: over its rate for longer than MaxThrottle
			pub.ExpectDisconnect(packet.MessageRateTooHigh)
		})
	}
}

// A client far over its byte rate is disconnected with 0x97 (v5) or just
// closed (v3.1.1).
func TestByteRateDisconnects(t *testing.T) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		_, addr := start(t, broker.Options{MaxByteRate: 10000, MaxThrottle: time.Second})
		pub, _ := client(t, addr, v, "bytes", true)
		payload := make([]byte, 12000)
		var burst []byte
		for range 4 {
			burst = packet.AppendPublish(burst, v, &packet.Publish{Topic: []byte("big"), Payload: payload})
		}
		pub.SendRaw(burst) // 48 KB at 10 KB/s
		pub.ExpectDisconnect(packet.QuotaExceeded)
	}
}

// A client id that reconnects too often is refused for a while: CONNACK
// 0x9F on v5, return code 3 (server unavailable) on v3.1.1.
func TestFlappingClientRefused(t *testing.T) {
	srv, addr := start(t, broker.Options{FlapThreshold: 3, FlapWindow: time.Minute, FlapBan: time.Minute})
	for i := range 3 {
		c, ack := client(t, addr, packet.V5, "flappy", true)
		if ack.ReasonCode != packet.Success {
			t.Fatalf("connect %d refused: %v", i+1, ack.ReasonCode)
		}
		c.Conn.Close()
	}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		c := mqtttest.Dial(t, addr, v)
		ack := c.TryConnect(&packet.Connect{ClientID: []byte("flappy"), CleanStart: true})
		want := packet.ConnectionRateExceeded
		if v != packet.V5 {
			want = 3
		}
		if ack.ReasonCode != want {
			t.Fatalf("v%d: flapping client id got CONNACK %#x, want %#x", v, byte(ack.ReasonCode), byte(want))
		}
	}
	// Other client ids are not affected.
	client(t, addr, packet.V5, "steady", true)
	if srv.Stats().Refused < 2 {
		t.Fatalf("refused counter %d", srv.Stats().Refused)
	}
}

// Beyond the node's connection rate, CONNECTs are refused with 0x9F.
func TestConnectionRateLimit(t *testing.T) {
	_, addr := start(t, broker.Options{MaxConnectionRate: 0.5}) // a burst of 1, then one per 2 s
	client(t, addr, packet.V5, "first", true)
	c := mqtttest.Dial(t, addr, packet.V5)
	if ack := c.TryConnect(&packet.Connect{ClientID: []byte("second"), CleanStart: true}); ack.ReasonCode != packet.ConnectionRateExceeded {
		t.Fatalf("second CONNECT: %v, want connection rate exceeded", ack.ReasonCode)
	}
}
