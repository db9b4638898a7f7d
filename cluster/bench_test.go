package cluster_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/cluster/clustertest"
)

// BenchmarkThroughputQoS0 measures QoS 0 messages per second from one
// publisher to one subscriber: on a plain single broker, and with the
// publisher on node 1 and the subscriber on node 2 of a cluster.
//
//	go test -run '^$' -bench ThroughputQoS0 -benchtime 500000x ./cluster/
func BenchmarkThroughputQoS0(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run("SingleNode/"+itoa(size), func(b *testing.B) {
			srv, err := broker.New(broker.Options{SysInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(l, "tcp")
			b.Cleanup(func() { srv.Shutdown(context.Background()) })
			dial := func(id string) *mqtttest.Conn {
				c := mqtttest.Dial(b, l.Addr().String(), packet.V311)
				c.Connect(&packet.Connect{ClientID: []byte(id), CleanStart: true})
				return c
			}
			throughput(b, dial("sub"), dial("pub"), size, func() {})
		})
		b.Run("CrossNode/"+itoa(size), func(b *testing.B) {
			c := clustertest.Start(b, 2, clustertest.Options{})
			n1, n2 := c.Node("n1"), c.Node("n2")
			s := n2.Dial(b, "sub", packet.V311)
			throughput(b, s, n1.Dial(b, "pub", packet.V311), size, func() {
				c.WaitRoute(n2, route("bench/#", ""), true)
				c.WaitRoute(n2, route("bench-end", ""), true)
			})
			st := n1.Cluster.Stats()
			b.ReportMetric(float64(st.Batches), "batches")
			b.ReportMetric(float64(st.DroppedQoS0), "cluster-drops")
		})
	}
}

// throughput sends b.N QoS 0 publishes of size bytes, pipelined, then a
// QoS 1 end marker, and counts what the subscriber receives before it.
func throughput(b *testing.B, sub, pub *mqtttest.Conn, size int, ready func()) {
	sub.Subscribe(1, 0, "bench/#")
	sub.Subscribe(2, 1, "bench-end")
	ready()
	one, _ := packet.AppendPacket(nil, packet.V311, &packet.Publish{Topic: []byte("bench/x"), Payload: []byte(strings.Repeat("x", size))})
	const chunk = 256
	buf := make([]byte, 0, chunk*len(one))
	for range chunk {
		buf = append(buf, one...)
	}
	got := make(chan int, 1)
	b.ResetTimer()
	go func() {
		k := 0
		for {
			p, err := sub.Read(30 * time.Second)
			if err != nil {
				got <- -1
				return
			}
			if p, ok := p.(*packet.Publish); ok {
				if string(p.Topic) == "bench-end" {
					got <- k
					return
				}
				k++
			}
		}
	}()
	for left := b.N; left > 0; left -= chunk {
		k := min(left, chunk)
		pub.SendRaw(buf[:k*len(one)])
	}
	pub.Send(&packet.Publish{Topic: []byte("bench-end"), QoS: 1, PacketID: 1, Payload: []byte("end")})
	k := <-got
	b.StopTimer()
	if k < 0 {
		b.Fatal("subscriber failed")
	}
	b.ReportMetric(float64(k)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N-k), "dropped")
}

func itoa(n int) string {
	if n >= 1024 {
		return itoaRaw(n/1024) + "KiB"
	}
	return itoaRaw(n) + "B"
}

func itoaRaw(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}
