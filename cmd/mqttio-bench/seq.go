package main

import "encoding/binary"

// Every payload starts with a 16-byte header, followed by filler up to
// -size:
//
//	[0:4]   publisher number (little endian)
//	[4:8]   sequence number of the message for that publisher, from 0
//	[8:16]  send time, nanoseconds since the start of the run (monotonic)
//
// A sequence number of probeSeq marks a probe, sent before the measured run
// to check that every subscription is in place (cross-node routes are
// eventually consistent).
const (
	headerSize = 16
	probeSeq   = ^uint32(0)
)

func putHeader(b []byte, pub, seq uint32, sentAt int64) {
	binary.LittleEndian.PutUint32(b[0:4], pub)
	binary.LittleEndian.PutUint32(b[4:8], seq)
	binary.LittleEndian.PutUint64(b[8:16], uint64(sentAt))
}

// getHeader decodes a payload header; ok is false for a payload too short
// to have one.
func getHeader(b []byte) (pub, seq uint32, sentAt int64, ok bool) {
	if len(b) < headerSize {
		return 0, 0, 0, false
	}
	return binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint32(b[4:8]),
		int64(binary.LittleEndian.Uint64(b[8:16])), true
}

// seqTracker accounts the messages of one publisher seen by one subscriber
// (a stream). Brokers deliver a publisher's messages on one topic in order
// ([MQTT-4.6.0-6] for QoS 1), so the tracker only keeps the next expected
// sequence number:
//
//   - seq == next: in order;
//   - seq > next:  the messages in between were skipped (counted in gaps;
//     lost unless they turn up later, out of order);
//   - seq < next:  a duplicate when the DUP flag is set (a redelivery),
//     otherwise a reordered message (ooo), which fills a gap.
//
// recv counts distinct messages under the assumption that a message below
// next without DUP is one not seen before; a broker that duplicated
// without the DUP flag would show up in ooo, which must then be zero for a
// clean QoS 1 run.
type seqTracker struct {
	next uint64 // one past the highest sequence number seen
	recv uint64 // distinct messages received
	gaps uint64 // messages skipped over when a higher number arrived
	dups uint64 // redeliveries (DUP set, below next)
	ooo  uint64 // below next without DUP: reordered (or an unflagged duplicate)
}

// observe accounts one message.
func (s *seqTracker) observe(seq uint32, dup bool) {
	q := uint64(seq)
	switch {
	case q == s.next:
		s.next++
		s.recv++
	case q > s.next:
		s.gaps += q - s.next
		s.next = q + 1
		s.recv++
	case dup:
		s.dups++
	default:
		s.ooo++
		s.recv++
		if s.gaps > 0 {
			s.gaps--
		}
	}
}

// lost is how many of sent messages this stream never received.
func (s *seqTracker) lost(sent uint64) uint64 {
	if s.recv >= sent {
		return 0
	}
	return sent - s.recv
}

// credit is how many more messages a publisher may write now.
//
// The window bounds how far a publisher runs ahead of delivery: at most
// window messages may be written and not yet received by its slowest
// subscriber (delivered is the lowest next-expected sequence number among
// its subscriber streams). At QoS > 0 the publisher's own unacknowledged
// messages are also bounded, by inflight (the packet identifier space, or
// the broker's v5 Receive Maximum). base is where the window restarted
// after a QoS 0 stall (messages written before it are given up as lost).
func credit(sent, delivered, acked, base uint64, window, inflight int, qos byte) int {
	done := max(delivered, base)
	var ahead uint64
	if sent > done {
		ahead = sent - done
	}
	c := int64(window) - int64(ahead)
	if qos > 0 {
		var unacked uint64
		if sent > acked {
			unacked = sent - acked
		}
		c = min(c, int64(inflight)-int64(unacked))
	}
	return int(max(c, 0))
}

// minBatch is the least credit worth a write while messages are still
// outstanding: a publisher refills its window once half of it has been
// delivered, so that it keeps between half a window and a window in
// flight and writes them in big batches; one system call per message
// would cost the generator more than the broker. With nothing outstanding
// any credit is used, so nothing waits forever.
func minBatch(window int) int {
	return max(1, min(window/2, 256))
}

// perPublisherWindow splits a subscriber's window among the publishers
// that feed it, so that a subscriber never has more than window messages
// outstanding however many publishers there are (Mosquitto, for one,
// drops QoS 1 messages beyond max_queued_messages, default 1000).
func perPublisherWindow(window, pubsPerSub int) int {
	if pubsPerSub < 1 {
		pubsPerSub = 1
	}
	return max(1, window/pubsPerSub)
}
