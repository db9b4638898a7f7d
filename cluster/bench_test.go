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

// BenchmarkRetainedRaft measures retained publishes through Raft on a
// 3-node cluster with real bbolt files: the latency of one QoS 1 retained
// publish (PUBACK after the commit and the local apply), sent to the
// leader and to a follower (forwarded over gRPC), and the throughput of a
// publisher pipelining QoS 1 retained publishes (distinct topics: batched
// into entries; one topic: coalesced).
//
//	go test -run '^$' -bench RetainedRaft -benchtime 2s ./cluster/
func BenchmarkRetainedRaft(b *testing.B) {
	c := clustertest.Start(b, 3, clustertest.Options{Raft: true})
	leader := c.WaitLeader()
	follower := c.Followers()[0]
	for _, tc := range []struct {
		name string
		node *clustertest.Node
	}{{"Leader", leader}, {"Follower", follower}} {
		b.Run("Latency/"+tc.name, func(b *testing.B) {
			pub := tc.node.Dial(b, "lat-"+tc.name, packet.V311)
			b.ResetTimer()
			for i := range b.N {
				pub.Publish("bench/lat/"+tc.name, 1, true, "v", uint16(i%60000+1))
			}
		})
		for _, topics := range []int{1000, 1} {
			b.Run("Pipelined/"+tc.name+"/topics="+itoaRaw(topics), func(b *testing.B) {
				pub := tc.node.Dial(b, "pipe-"+tc.name+itoaRaw(topics), packet.V311)
				st0 := tc.node.Cluster.RaftStatus()
				const window = 100
				b.ResetTimer()
				sent, acked := 0, 0
				for acked < b.N {
					for sent < b.N && sent-acked < window {
						pub.Send(&packet.Publish{Topic: []byte("bench/pipe/" + itoaRaw(sent%topics)), QoS: 1, Retain: true,
							PacketID: uint16(sent%60000 + 1), Payload: []byte("v")})
						sent++
					}
					mqtttest.Expect[*packet.Ack](pub)
					acked++
				}
				b.StopTimer()
				st := tc.node.Cluster.RaftStatus()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				if n := st.Entries - st0.Entries; n > 0 {
					b.ReportMetric(float64(b.N)/float64(n), "msgs/entry")
				}
			})
		}
	}
}
