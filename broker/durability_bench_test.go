package broker_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/storage"
)

// BenchmarkDurableQoS1 measures what durability costs: QoS 1 publishes to a
// persistent (offline) subscriber, each PUBACK released only after the
// message is fsynced, from several publishers that each wait for their ack
// (so group commit can share fsyncs between them). Compare with the same
// flow on a broker without a store:
//
//	go test ./broker/ -run '^$' -bench DurableQoS1 -benchtime 3000x
func BenchmarkDurableQoS1(b *testing.B) {
	for _, mode := range []string{"fsync", "nosync", "memory"} {
		for _, pubs := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/publishers=%d", mode, pubs), func(b *testing.B) {
				opts := broker.Options{}
				if mode != "memory" {
					db, err := storage.Open(storage.Options{Path: filepath.Join(b.TempDir(), "db"), NoSync: mode == "nosync"})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { db.Close() })
					opts.Store = db
				}
				_, addr := start(b, opts)
				sub := mqtttest.Dial(b, addr, packet.V311)
				sub.Connect(&packet.Connect{ClientID: []byte("durable-sub")})
				sub.Subscribe(1, 1, "bench/#")
				sub.Conn.Close() // offline: every message is queued to disk

				conns := make([]*mqtttest.Conn, pubs)
				for i := range conns {
					conns[i] = mqtttest.Dial(b, addr, packet.V311)
					conns[i].Connect(&packet.Connect{ClientID: fmt.Appendf(nil, "pub-%d", i), CleanStart: true})
				}
				b.ResetTimer()
				var wg sync.WaitGroup
				for i, c := range conns {
					n := b.N / pubs
					if i == 0 {
						n += b.N % pubs
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for j := range n {
							if err := c.PublishE("bench/t", 1, "0123456789abcdef", uint16(j%65535+1)); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}
