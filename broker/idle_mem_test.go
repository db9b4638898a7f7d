package broker_test

import (
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/mqttio/mqttio/broker"
)

// BenchmarkIdleConnection reports the broker's memory per idle, connected
// MQTT client (heap and goroutine stacks, both sides of loopback included:
// the client side adds roughly 0.4 KB). Run with
//
//	go test ./broker/ -run '^$' -bench IdleConnection -benchtime 5000x
func BenchmarkIdleConnection(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts broker.Options
	}{{"netpoll", broker.Options{}}, {"goroutine", broker.Options{DisableNetpoll: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			_, addr := startServer(b, mode.opts)
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			conns := make([]net.Conn, 0, b.N)
			for i := 0; i < b.N; i++ {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				id := fmt.Sprintf("idle-%06d", i)
				pkt := []byte{0x10, byte(10 + 2 + len(id)), 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, byte(len(id))}
				c.Write(append(pkt, id...))
				if _, err := c.Read(make([]byte, 4)); err != nil {
					b.Fatal(err)
				}
				conns = append(conns, c)
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			per := func(a, z uint64) float64 { return float64(int64(z)-int64(a)) / float64(b.N) }
			b.ReportMetric(per(m0.HeapInuse, m1.HeapInuse), "heap-B/conn")
			b.ReportMetric(per(m0.StackInuse, m1.StackInuse), "stack-B/conn")
			for _, c := range conns {
				c.Close()
			}
		})
	}
}
