package main

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// stream is what one subscriber knows of one publisher. The seqTracker is
// the subscriber reader's alone; progress is how the writer learns of it.
type stream struct {
	seqTracker
	dirty    bool
	progress atomic.Uint64 // seqTracker.next, published after every read
	probed   atomic.Bool
	_        [32]byte // keep neighbouring streams off one cache line
}

type publisher struct {
	id       uint32
	mc       *mqttConn
	topic    []byte
	streams  []*stream // the subscribers of its topic
	window   int
	inflight int
	w        *writer

	sent   atomic.Uint64 // messages written (stored before the write)
	acked  atomic.Uint64 // PUBACKs received
	base   atomic.Uint64 // window restart after a QoS 0 stall (see monitor)
	stalls atomic.Uint64 // stalls seen by the monitor
}

// delivered is the lowest next-expected sequence number among the
// publisher's subscriber streams.
func (p *publisher) delivered() uint64 {
	d := uint64(math.MaxUint64)
	for _, s := range p.streams {
		d = min(d, s.progress.Load())
	}
	return d
}

func (p *publisher) credit(qos byte) (c int, outstanding bool) {
	sent := p.sent.Load()
	d := p.delivered()
	base := p.base.Load()
	c = credit(sent, d, p.acked.Load(), base, p.window, p.inflight, qos)
	return c, sent > max(d, base)
}

// subscriber is one subscribing connection and its reader's state.
type subscriber struct {
	r       *runner
	mc      *mqttConn
	lo      uint32   // publisher number of streams[0]
	streams []stream // one per publisher of its topic
	wakes   []chan struct{}

	delivered atomic.Uint64 // messages received, probes excluded

	// Reader-owned.
	dirty   []int32 // streams whose progress changed in this read
	pending uint64  // messages since the last flush
	foreign uint64  // messages without a header of a known publisher
	hist    hist
	acks    []byte
	pkt     packet.Publish
	ack     packet.Ack
	now     time.Duration // receive time of this read's messages; 0: not yet taken
	measure bool
}

func (s *subscriber) packet(t packet.Type, flags byte, body []byte) error {
	if t != packet.PUBLISH {
		return nil // acks of nothing: the subscriber never publishes
	}
	if err := packet.DecodePublish(s.mc.v, flags, body, &s.pkt); err != nil {
		return fmt.Errorf("PUBLISH: %w", err)
	}
	switch s.pkt.QoS {
	case 1:
		s.ack.Type, s.ack.PacketID = packet.PUBACK, s.pkt.PacketID
		s.acks = packet.AppendAck(s.acks, s.mc.v, &s.ack)
	case 2:
		return errors.New("QoS 2 delivery: not supported by the tool")
	}
	pub, seq, at, ok := getHeader(s.pkt.Payload)
	k := pub - s.lo // wraps for pub < lo
	if !ok || int(k) >= len(s.streams) {
		s.foreign++
		return nil
	}
	st := &s.streams[k]
	if seq == probeSeq {
		st.probed.Store(true)
		return nil
	}
	st.observe(seq, s.pkt.Dup)
	if !st.dirty {
		st.dirty = true
		s.dirty = append(s.dirty, int32(k))
	}
	s.pending++
	if s.now == 0 {
		s.now = time.Since(s.r.epoch)
		s.measure = s.r.measuring.Load()
	}
	if s.measure {
		s.hist.record(s.now - time.Duration(at))
	}
	return nil
}

func (s *subscriber) flush() error {
	if len(s.acks) > 0 {
		_, err := s.mc.Write(s.acks)
		s.acks = s.acks[:0]
		if err != nil {
			return err
		}
	}
	for _, k := range s.dirty {
		st := &s.streams[k]
		st.dirty = false
		st.progress.Store(st.next)
	}
	s.dirty = s.dirty[:0]
	s.now = 0
	if s.pending > 0 {
		s.delivered.Add(s.pending)
		s.pending = 0
		for _, w := range s.wakes {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// pubReader reads a publisher's connection: PUBACKs.
type pubReader struct {
	p     *publisher
	acked uint64
	moved bool
	ack   packet.Ack
}

func (pr *pubReader) packet(t packet.Type, flags byte, body []byte) error {
	if t != packet.PUBACK {
		return nil
	}
	if err := packet.DecodeAck(pr.p.mc.v, t, flags, body, &pr.ack); err != nil {
		return fmt.Errorf("PUBACK: %w", err)
	}
	if pr.ack.ReasonCode.IsError() {
		return fmt.Errorf("PUBACK: %v", pr.ack.ReasonCode)
	}
	pr.acked++
	pr.moved = true
	return nil
}

func (pr *pubReader) flush() error {
	if pr.moved {
		pr.moved = false
		pr.p.acked.Store(pr.acked)
		select {
		case pr.p.w.wake <- struct{}{}:
		default:
		}
	}
	return nil
}
