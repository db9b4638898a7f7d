package broker_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// Concurrent publishers, QoS 1 and 2: every subscriber gets every message
// once, and each publisher's messages in order [MQTT-4.6.0-6].
func TestConcurrentPublishersOrdered(t *testing.T) {
	_, addr := start(t, broker.Options{})
	const pubs, each, subs = 4, 150, 3
	var ss []*mqtttest.Conn
	for i := range subs {
		s, _ := client(t, addr, packet.Version(3+i%3), fmt.Sprint("s", i), true)
		s.Subscribe(1, 2, "cc/#")
		ss = append(ss, s)
	}
	var wg sync.WaitGroup
	for i := range pubs {
		p, _ := client(t, addr, packet.Version(3+i%3), fmt.Sprint("p", i), true)
		wg.Go(func() {
			for j := range each {
				if err := p.PublishE(fmt.Sprint("cc/", i), byte(1+j%2), fmt.Sprint(i, ":", j), uint16(j+1)); err != nil {
					t.Errorf("publisher %d: %v", i, err)
					return
				}
			}
		})
	}
	for k, s := range ss {
		wg.Go(func() {
			next := make([]int, pubs)
			for range pubs * each {
				m, err := s.ReadPublish(mqtttest.DefaultTimeout)
				if err != nil {
					t.Errorf("subscriber %d: %v", k, err)
					return
				}
				a, b, _ := strings.Cut(string(m.Payload), ":")
				i, _ := strconv.Atoi(a)
				j, _ := strconv.Atoi(b)
				if j != next[i] {
					t.Errorf("subscriber %d: publisher %d message %d, want %d", k, i, j, next[i])
					return
				}
				next[i]++
			}
		})
	}
	wg.Wait()
	for _, s := range ss {
		// Complete the last QoS 2 flows; nothing else may come.
		if m, err := s.ReadPublish(100 * time.Millisecond); err == nil {
			t.Fatalf("extra %s", mqtttest.Describe(m))
		}
	}
}

// A persistent session taken over again and again while QoS 1 messages
// flow to it loses nothing: the final connection gets every message that
// was never acknowledged (at least once).
func TestTakeoverStormLosesNothing(t *testing.T) {
	srv, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V5, "storm", false, sessionExpiry(60))
	c.Subscribe(1, 1, "storm")
	const total = 300
	p, _ := client(t, addr, packet.V311, "p", true)
	var wg sync.WaitGroup
	wg.Go(func() {
		for j := range total {
			if err := p.PublishE("storm", 1, fmt.Sprint(j), uint16(j+1)); err != nil {
				t.Errorf("publisher: %v", err)
				return
			}
		}
	})
	// Connections that each acknowledge a few messages, then are taken over
	// by the next one (sometimes mid-flight).
	acked := map[string]bool{}
	for range 10 {
		nc, _ := client(t, addr, packet.V5, "storm", false, sessionExpiry(60))
		for range 5 {
			m, err := nc.ReadPublish(100 * time.Millisecond)
			if err != nil {
				break
			}
			acked[string(m.Payload)] = true
		}
	}
	wg.Wait()
	mqtttest.Eventually(t, "the old connections to leave", func() bool { return srv.Stats().Connections == 2 })
	last, _ := client(t, addr, packet.V5, "storm", false, sessionExpiry(60))
	for {
		m, err := last.ReadPublish(300 * time.Millisecond)
		if err != nil {
			break
		}
		acked[string(m.Payload)] = true
	}
	for j := range total {
		if k := fmt.Sprint(j); !acked[k] {
			t.Fatalf("message %s lost (%d of %d received)", k, len(acked), total)
		}
	}
}
