package broker_test

import (
	"context"
	"net"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// startServer runs a broker on an ephemeral loopback port.
func startServer(t testing.TB, opts broker.Options) (*broker.Server, string) {
	t.Helper()
	srv, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, "tcp")
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv, l.Addr().String()
}

func TestSmokePubSub(t *testing.T) {
	for _, netpoll := range []bool{true, false} {
		_, addr := startServer(t, broker.Options{DisableNetpoll: !netpoll})
		smokePubSub(t, addr)
	}
}

func smokePubSub(t *testing.T, addr string) {
	for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
		sub := mqtttest.Dial(t, addr, v)
		sub.Connect(&packet.Connect{ClientID: []byte("sub"), CleanStart: true, KeepAlive: 30})
		sub.Subscribe(1, 2, "a/+")
		pub := mqtttest.Dial(t, addr, v)
		pub.Connect(&packet.Connect{ClientID: []byte("pub"), CleanStart: true})
		for qos := byte(0); qos <= 2; qos++ {
			pub.Publish("a/b", qos, false, "hello", uint16(10+qos))
			p := sub.ExpectPublish("a/b", "hello")
			if p.QoS != qos {
				t.Fatalf("v%d: qos %d, want %d", v, p.QoS, qos)
			}
			sub.Ack(p)
		}
	}
}
