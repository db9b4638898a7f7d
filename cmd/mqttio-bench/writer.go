package main

import (
	"fmt"
	"math"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// writeChunk is the most bytes a writer puts in one write.
const writeChunk = 64 << 10

// writer writes for a set of publishers: as many messages per publisher
// and write as its credit allows, up to writeChunk bytes.
type writer struct {
	r        *runner
	pubs     []*publisher
	wake     chan struct{}
	rate     float64 // messages per second for this writer; 0: unlimited
	maxBatch int

	buf     []byte
	payload []byte
	pkt     packet.Publish
	written uint64        // messages written, for the rate
	start   time.Duration // since the epoch: when the writer started
	// held is set when messages were due (rate) but no publisher had
	// credit: the broker held the writer back.
	held bool
}

func (w *writer) run() {
	r := w.r
	qos := r.cfg.qos
	v := r.cfg.version
	w.start = time.Since(r.epoch)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		allowance := math.MaxInt
		if w.rate > 0 {
			due := int64((time.Since(r.epoch) - w.start).Seconds() * w.rate)
			allowance = int(max(due-int64(w.written), 0))
		}
		wrote := false
		for _, p := range w.pubs {
			if allowance == 0 {
				break
			}
			c, outstanding := p.credit(qos)
			if c == 0 || (w.rate == 0 && outstanding && c < minBatch(p.window)) {
				continue
			}
			n := min(c, w.maxBatch, allowance)
			if err := w.write(p, v, n); err != nil {
				r.fail(fmt.Errorf("publish: %w", err))
				return
			}
			allowance -= n
			wrote = true
		}
		if wrote {
			w.held = false
			continue
		}
		if w.rate > 0 && allowance > 0 {
			w.held = true
		}
		if w.rate > 0 && allowance == 0 {
			timer.Reset(max(w.due(w.written)-time.Since(r.epoch), 0))
			select {
			case <-r.stop:
				return
			case <-w.wake:
			case <-timer.C:
			}
			continue
		}
		select {
		case <-r.stop:
			return
		case <-w.wake:
		}
	}
}

// monitor watches the publishers for stalls: messages outstanding and no
// delivery or acknowledgement for stallTimeout. A stall is counted once;
// at QoS 0 the outstanding messages are then given up (they are lost: the
// broker dropped them) and the publisher's window restarts.
func (r *runner) monitor() {
	type state struct {
		delivered, acked uint64
		moved            time.Time
		counted          bool
	}
	qos := r.cfg.qos
	st := make([]state, len(r.pubs))
	tick := time.NewTicker(stallTimeout / 4)
	defer tick.Stop()
	for {
		var now time.Time
		select {
		case <-r.stop:
			return
		case now = <-tick.C:
		}
		for i, p := range r.pubs {
			s := &st[i]
			d, a := p.delivered(), p.acked.Load()
			if s.moved.IsZero() || d != s.delivered || a != s.acked {
				*s = state{delivered: d, acked: a, moved: now}
				continue
			}
			sent := p.sent.Load()
			outstanding := sent > max(d, p.base.Load()) || (qos > 0 && sent > a)
			if !outstanding || s.counted || now.Sub(s.moved) < stallTimeout {
				continue
			}
			p.stalls.Add(1)
			if qos > 0 {
				s.counted = true // wait on; count this stall once
				continue
			}
			p.base.Store(sent)
			s.moved = now
			select {
			case p.w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// due is when message k of a rate-limited writer is to be sent (since the
// epoch).
func (w *writer) due(k uint64) time.Duration {
	return w.start + time.Duration(float64(k)/w.rate*float64(time.Second))
}

// write encodes n messages of p into one buffer and writes it. The send
// time in each payload is now; at a fixed rate, when the broker held the
// writer back (no credit while messages were due), it is the time each
// message was due, so that the broker is charged the whole delay and not
// only what remains after the writer caught up (no coordinated omission).
// The writer's own timer lateness is not charged.
func (w *writer) write(p *publisher, v packet.Version, n int) error {
	sent := p.sent.Load()
	now := time.Since(w.r.epoch)
	buf := w.buf[:0]
	w.pkt.Topic = p.topic
	for i := range n {
		seq := sent + uint64(i)
		at := now
		if w.held {
			at = min(w.due(w.written+uint64(i)), now)
		}
		putHeader(w.payload, p.id, uint32(seq), int64(at))
		if w.pkt.QoS > 0 {
			w.pkt.PacketID = uint16(seq%65535) + 1
		}
		buf = packet.AppendPublish(buf, v, &w.pkt)
	}
	w.buf = buf
	p.sent.Store(sent + uint64(n))
	w.written += uint64(n)
	_, err := p.mc.Write(buf)
	return err
}
