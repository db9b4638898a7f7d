package cluster

import "sync/atomic"

// counters are the node's statistics, updated atomically.
type counters struct {
	deltasOut, deltasIn, deltasDropped, deltasTooBig atomic.Int64
	pulls, joinFailures                              atomic.Int64

	forwarded, forwardedBytes, batches atomic.Int64
	replayed, streamResets, stalls     atomic.Int64
	droppedQoS0, droppedQoS12          atomic.Int64
	droppedDead, redispatched          atomic.Int64

	received, duplicates, missedGroups atomic.Int64
}

// Stats is a snapshot of a node's counters.
type Stats struct {
	Members      int    // other members this node forwards to
	LocalRoutes  int    // routes this node announces
	RemoteRoutes int    // routes held for the other members
	RouteVersion uint64 // changes of the local route table so far

	DeltasSent      int64 // route deltas queued for gossip
	DeltasReceived  int64 // route deltas received
	DeltasDropped   int64 // received deltas dropped (queue full); the digest repairs
	DeltasNotSent   int64 // deltas too big for one UDP packet; peers pull instead
	RouteTablePulls int64 // full route tables pulled from peers
	JoinFailures    int64 // join attempts that reached no other member

	Forwarded      int64 // messages queued for a peer (one per peer and message)
	ForwardedBytes int64
	Batches        int64 // batches sent
	Replayed       int64 // QoS 1/2 messages re-sent on a new stream
	StreamResets   int64 // forwarding streams that broke or failed to open
	Stalls         int64 // times a stream went above its high-water mark
	DroppedQoS0    int64 // QoS 0 messages dropped at the high-water mark
	DroppedQoS12   int64 // QoS 1/2 messages dropped beyond MaxQueueBytes (logged)
	DroppedDead    int64 // queued for a member that died before acknowledging
	Redispatched   int64 // shared-subscription messages given to another node

	Received     int64 // messages received from peers and delivered
	Duplicates   int64 // replayed messages the receiver had already delivered
	MissedGroups int64 // shared groups a message came for that had no member here
}

// Stats returns a snapshot of the counters.
func (n *Node) Stats() Stats {
	c := &n.stats
	v, _ := n.local.digest()
	st := Stats{
		Members:         int(n.npeers.Load()),
		LocalRoutes:     n.local.snapshotLen(),
		RemoteRoutes:    int(n.table.count.Load()),
		RouteVersion:    v,
		DeltasSent:      c.deltasOut.Load(),
		DeltasReceived:  c.deltasIn.Load(),
		DeltasDropped:   c.deltasDropped.Load(),
		DeltasNotSent:   c.deltasTooBig.Load(),
		RouteTablePulls: c.pulls.Load(),
		JoinFailures:    c.joinFailures.Load(),
		Forwarded:       c.forwarded.Load(),
		ForwardedBytes:  c.forwardedBytes.Load(),
		Batches:         c.batches.Load(),
		Replayed:        c.replayed.Load(),
		StreamResets:    c.streamResets.Load(),
		Stalls:          c.stalls.Load(),
		DroppedQoS0:     c.droppedQoS0.Load(),
		DroppedQoS12:    c.droppedQoS12.Load(),
		DroppedDead:     c.droppedDead.Load(),
		Redispatched:    c.redispatched.Load(),
		Received:        c.received.Load(),
		Duplicates:      c.duplicates.Load(),
		MissedGroups:    c.missedGroups.Load(),
	}
	return st
}

// faults are fault-injection switches for tests (see export_test.go).
type faults struct {
	dropDeltas atomic.Bool                   // do not gossip route deltas
	recvGate   atomic.Pointer[chan struct{}] // the receiver waits for it before each batch
	isolated   atomic.Bool                   // cut off Raft and proposal forwarding
}
