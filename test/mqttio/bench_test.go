package mqttio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// QoS 0 throughput, one publisher to one subscriber through the real
// broker, both raw in-process clients, 16-byte payloads, over TCP, MQTT over
// WebSocket and Socket.IO over websocket (MQTT.IO: one event per MQTT
// packet). Each client writes one MQTT packet per transport unit (TCP
// bytes, a binary frame, a binary event) and flushes every 64 packets; the
// publisher keeps at most 4096 messages ahead of the subscriber, so nothing
// queues without bound and nothing is dropped.
//
//	go test -run '^$' -bench QoS0Throughput -benchtime 200000x ./test/mqttio/
func BenchmarkQoS0Throughput(b *testing.B) {
	for _, kind := range []string{"tcp", "mqtt-ws", "socketio-ws"} {
		b.Run(kind, func(b *testing.B) { benchThroughput(b, kind) })
	}
}

const (
	benchWindow = 4096 // messages in flight at most
	benchBurst  = 64   // messages per flush
)

// benchConn is a bench client: a buffered MQTT writer and the inbound MQTT
// stream.
type benchConn struct {
	w interface {
		io.Writer
		Flush() error
	}
	r *bufio.Reader
}

func dialBench(b *testing.B, n *node, kind string, id string) *benchConn {
	b.Helper()
	var bc benchConn
	switch kind {
	case "tcp":
		c, err := net.Dial("tcp", n.tcp)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		bc.w, bc.r = bufio.NewWriterSize(c, 64<<10), bufio.NewReaderSize(c, 64<<10)
	case "mqtt-ws", "socketio-ws":
		k := mqttWS
		if kind == "socketio-ws" {
			k = socketioWS
		}
		c := dialWS(b, n.url, k)
		c.Buffered = true
		b.Cleanup(func() { c.Close() })
		bc.w, bc.r = c, bufio.NewReaderSize(c, 64<<10)
	default:
		b.Fatalf("no bench client for %s", kind)
	}
	bc.send(b, &packet.Connect{ProtocolName: []byte("MQTT"), Version: packet.V311, ClientID: []byte(id), CleanStart: true})
	if ack, err := packet.ReadPacket(bc.r, packet.V311, 1<<20); err != nil {
		b.Fatalf("%s CONNACK: %v", kind, err)
	} else if a, ok := ack.(*packet.Connack); !ok || a.ReasonCode != 0 {
		b.Fatalf("%s CONNACK: %+v", kind, ack)
	}
	return &bc
}

func (bc *benchConn) send(b *testing.B, pkt any) {
	p, err := packet.AppendPacket(nil, packet.V311, pkt)
	if err != nil {
		b.Fatal(err)
	}
	bc.w.Write(p)
	if err := bc.w.Flush(); err != nil {
		b.Fatal(err)
	}
}

func benchThroughput(b *testing.B, kind string) {
	n := startNode(b, nodeOptions{Quiet: true})
	sub := dialBench(b, n, kind, "bench-sub")
	sub.send(b, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("bench/t"), QoS: 0}}})
	if ack, err := packet.ReadPacket(sub.r, packet.V311, 1<<20); err != nil {
		b.Fatalf("SUBACK: %v", err)
	} else if _, ok := ack.(*packet.Suback); !ok {
		b.Fatalf("SUBACK: %+v", ack)
	}
	pub := dialBench(b, n, kind, "bench-pub")
	msg, _ := packet.AppendPacket(nil, packet.V311, &packet.Publish{Topic: []byte("bench/t"), Payload: []byte("0123456789abcdef")})

	var received atomic.Int64
	progress := make(chan struct{}, 1)
	readErr := make(chan error, 1)
	go func() { readErr <- countPublishes(sub.r, &received, progress) }()

	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	wait := func(until func() bool) {
		for !until() {
			select {
			case <-progress:
			case err := <-readErr:
				b.Fatalf("subscriber: %v after %d messages", err, received.Load())
			case <-timeout.C:
				b.Fatalf("subscriber got %d of %d messages in time", received.Load(), b.N)
			}
		}
	}
	for i := range b.N {
		if int64(i)-received.Load() >= benchWindow {
			if err := pub.w.Flush(); err != nil {
				b.Fatal(err)
			}
			wait(func() bool { return int64(i)-received.Load() < benchWindow/2 })
		}
		pub.w.Write(msg)
		if i%benchBurst == benchBurst-1 {
			if err := pub.w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := pub.w.Flush(); err != nil {
		b.Fatal(err)
	}
	wait(func() bool { return received.Load() >= int64(b.N) })
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	// CPU time of the whole process (broker and both clients) per message:
	// steadier than msgs/s on a machine shared with other work.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
	if got := n.broker.Stats().Dropped; got != 0 {
		b.Fatalf("the broker dropped %d messages", got)
	}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countPublishes reads MQTT packets from r, counting the PUBLISHes in
// received and signalling progress whenever it has read all that arrived.
func countPublishes(r *bufio.Reader, received *atomic.Int64, progress chan<- struct{}) error {
	for {
		first, err := r.ReadByte()
		if err != nil {
			return err
		}
		size, shift := 0, 0
		for i := 0; ; i++ {
			d, err := r.ReadByte()
			if err != nil {
				return err
			}
			size |= int(d&0x7f) << shift
			if d&0x80 == 0 {
				break
			}
			if shift += 7; i == 3 {
				return errors.New("malformed remaining length")
			}
		}
		if _, err := r.Discard(size); err != nil {
			return err
		}
		if first>>4 != 3 {
			return fmt.Errorf("packet type %d, want PUBLISH", first>>4)
		}
		received.Add(1)
		if r.Buffered() == 0 {
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}
}
