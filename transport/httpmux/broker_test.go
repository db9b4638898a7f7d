package httpmux

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/transport/engineio"
	"github.com/mqttio/mqttio/transport/internal/eiotest"
)

// Engine.IO v3 / Socket.IO rev 4, as socket.io-client 1.x and 2.x speak it
// (no such client is packaged without npm), byte by byte against the real
// broker: the implicit "/" connect, "40/mqtt", the XHR2 binary and the b64
// text polling bodies, websocket frames with the 04 prefix, the
// client-driven heartbeat, and the will of a client that vanishes or drops
// its socket. The end-to-end tests of the other transports with real
// clients are in test/mqttio.
func TestEIO3WithBroker(t *testing.T) {
	eo := engineio.Options{PingInterval: 200 * time.Millisecond, PingTimeout: 300 * time.Millisecond}
	base, tcpAddr := startBroker(t, eo)
	sio := base + "/socket.io/?EIO=3"
	watcher := func(t *testing.T) *mqtttest.Conn {
		tcp := mqtttest.Dial(t, tcpAddr, packet.V311)
		tcp.Connect(&packet.Connect{ClientID: []byte("tcp-" + t.Name()), CleanStart: true})
		tcp.Subscribe(1, 2, "v3/up", "will/#")
		return tcp
	}

	t.Run("polling", func(t *testing.T) {
		tcp := watcher(t)
		sid, open := eiotest.Handshake(t, sio)
		if !bytes.HasSuffix(open, []byte("}2:40")) {
			t.Fatalf("handshake %q: no implicit / connect", open)
		}
		url := sio + "&transport=polling&sid=" + sid
		eiotest.PostOK(t, url, "7:40/mqtt")
		if r := eiotest.Get(t, url); string(r.Body) != "8:40/mqtt," {
			t.Fatalf("connect reply %q", r.Body)
		}
		// CONNECT in an XHR2 binary body, CONNACK in one too.
		post := engineio.AppendPayloadV3Binary(nil, event(mqttBytes(t, &packet.Connect{ProtocolName: []byte("MQTT"),
			Version: packet.V311, ClientID: []byte("v3-polling"), KeepAlive: 60, CleanStart: true,
			WillFlag: true, WillTopic: []byte("will/v3-polling"), WillPayload: []byte("vanished")})))
		if r := eiotest.Post(t, url, "application/octet-stream", post); r.Status != 200 || string(r.Body) != "ok" {
			t.Fatalf("POST: %d %q", r.Status, r.Body)
		}
		r := eiotest.Get(t, url)
		if r.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("CONNACK body of type %q: %q", r.Header.Get("Content-Type"), r.Body)
		}
		pkts, err := engineio.DecodePayloadV3Binary(r.Body)
		expectMQTT(t, pkts, err, &packet.Connack{})

		// The b64 text form: SUBSCRIBE, then a QoS 1 message from TCP,
		// then a QoS 2 publish with its whole flow.
		send := func(pkt any) {
			eiotest.PostOK(t, url+"&b64=1", string(engineio.AppendPayloadV3Text(nil, event(mqttBytes(t, pkt)))))
		}
		receive := func(want ...any) {
			t.Helper()
			var pkts []engineio.Packet
			for len(pkts) < 2*len(want) {
				r := eiotest.Get(t, url+"&b64=1")
				more, err := engineio.DecodePayloadV3Text(r.Body)
				if err != nil {
					t.Fatalf("GET %q: %v", r.Body, err)
				}
				for _, p := range more {
					if p.Type != engineio.NoopPacket {
						pkts = append(pkts, p)
					}
				}
			}
			expectMQTT(t, pkts, nil, want...)
		}
		send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("v3/down"), QoS: 1}}})
		receive(&packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{1}})
		tcp.Publish("v3/down", 1, false, "to EIO3 polling", 9)
		receive(&packet.Publish{Topic: []byte("v3/down"), QoS: 1, PacketID: 1, Payload: []byte("to EIO3 polling")})
		send(&packet.Ack{Type: packet.PUBACK, PacketID: 1})
		send(&packet.Publish{Topic: []byte("v3/up"), QoS: 2, PacketID: 7, Payload: []byte("from EIO3 polling")})
		receive(&packet.Ack{Type: packet.PUBREC, PacketID: 7})
		send(&packet.Ack{Type: packet.PUBREL, PacketID: 7})
		receive(&packet.Ack{Type: packet.PUBCOMP, PacketID: 7})
		tcp.Ack(tcp.ExpectPublish("v3/up", "from EIO3 polling"))

		// The client pings; then it vanishes and the heartbeat drops it.
		eiotest.PostOK(t, url, "1:2")
		if r := eiotest.Get(t, url); string(r.Body) != "1:3" {
			t.Fatalf("pong %q", r.Body)
		}
		start := time.Now()
		tcp.Ack(tcp.ExpectPublish("will/v3-polling", "vanished"))
		t.Logf("will %v after the last ping", time.Since(start).Round(time.Millisecond))
	})

	t.Run("websocket", func(t *testing.T) {
		tcp := watcher(t)
		c := eiotest.Dial(t, sio+"&transport=websocket")
		eiotest.ParseOpen(t, eiotest.Read(t, c).Data)
		eiotest.Expect(t, c, eiotest.Text("40"))
		eiotest.Send(t, c, eiotest.Text("40/mqtt"))
		eiotest.Expect(t, c, eiotest.Text("40/mqtt,"))
		send := func(pkt any) {
			eiotest.Send(t, c, eiotest.Text(v3Header))
			eiotest.Send(t, c, eiotest.Binary(append([]byte{4}, mqttBytes(t, pkt)...)))
		}
		receive := func(want any) {
			t.Helper()
			eiotest.Expect(t, c, eiotest.Text(v3Header))
			f := eiotest.Read(t, c)
			if !f.Binary || len(f.Data) == 0 || f.Data[0] != 4 {
				t.Fatalf("attachment %v: want a binary frame starting 04", f)
			}
			expectMQTT(t, []engineio.Packet{{Type: engineio.MessagePacket}, {Data: f.Data[1:], Binary: true}}, nil, want)
		}
		send(&packet.Connect{ProtocolName: []byte("MQTT"), Version: packet.V311, ClientID: []byte("v3-ws"), KeepAlive: 60,
			CleanStart: true, WillFlag: true, WillTopic: []byte("will/v3-ws"), WillPayload: []byte("dropped")})
		receive(&packet.Connack{})
		send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: []byte("v3/down"), QoS: 2}}})
		receive(&packet.Suback{PacketID: 2, ReasonCodes: []packet.ReasonCode{2}})
		tcp.Publish("v3/down", 0, false, "to EIO3 websocket", 0)
		receive(&packet.Publish{Topic: []byte("v3/down"), Payload: []byte("to EIO3 websocket")})
		send(&packet.Publish{Topic: []byte("v3/up"), QoS: 1, PacketID: 3, Payload: []byte("from EIO3 websocket")})
		receive(&packet.Ack{Type: packet.PUBACK, PacketID: 3})
		tcp.Ack(tcp.ExpectPublish("v3/up", "from EIO3 websocket"))
		eiotest.Send(t, c, eiotest.Text("2"))
		eiotest.Expect(t, c, eiotest.Text("3"))
		c.Close() // the socket drops, no goodbye
		tcp.Ack(tcp.ExpectPublish("will/v3-ws", "dropped"))
	})
}

// v3Header is the Socket.IO rev 4 header of an MQTT.IO event, as an
// Engine.IO message.
const v3Header = `451-/mqtt,["message",{"_placeholder":true,"num":0}]`

// event is the MQTT.IO event carrying b, as Engine.IO v3 packets.
func event(b []byte) []engineio.Packet {
	return []engineio.Packet{
		{Type: engineio.MessagePacket, Data: []byte(v3Header[1:])},
		{Type: engineio.MessagePacket, Data: b, Binary: true},
	}
}

func mqttBytes(t *testing.T, pkt any) []byte {
	t.Helper()
	b, err := packet.AppendPacket(nil, packet.V311, pkt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectMQTT checks that pkts are MQTT.IO events (header, attachment)
// carrying the MQTT packets want, byte for byte.
func expectMQTT(t *testing.T, pkts []engineio.Packet, err error, want ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	if len(pkts) != 2*len(want) {
		t.Fatalf("%d Engine.IO packets %v, want %d events", len(pkts), pkts, len(want))
	}
	for i, w := range want {
		head, att := pkts[2*i], pkts[2*i+1]
		if head.Binary || (head.Data != nil && "4"+string(head.Data) != v3Header) || !att.Binary {
			t.Fatalf("event %d: %q then %q", i, head.Data, att.Data)
		}
		if wb := mqttBytes(t, w); !bytes.Equal(att.Data, wb) {
			t.Fatalf("MQTT packet %d:\n got % x\nwant % x (%s)", i, att.Data, wb, mqtttest.Describe(w))
		}
	}
}

// startBroker runs the real broker behind a mux on a loopback HTTP port,
// with a TCP listener too; it returns the HTTP base URL and the TCP
// address.
func startBroker(t *testing.T, eo engineio.Options) (string, string) {
	t.Helper()
	srv, err := broker.New(broker.Options{SysInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := New(Options{EngineIO: eo, Logger: slog.New(slog.DiscardHandler)})
	for name, l := range mux.Listeners() {
		go srv.Serve(l, name)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tl, "tcp")
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		mux.Close()
		ts.Close()
	})
	return ts.URL, tl.Addr().String()
}
