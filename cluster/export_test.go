package cluster

import "sync"

// Fault injection for the tests of package cluster_test.

// DropDeltas makes n stop (or resume) gossiping its route deltas, as if
// every one of them were lost.
func DropDeltas(n *Node, on bool) { n.faults.dropDeltas.Store(on) }

// BlockReceive makes n's receiving side stop taking batches off its
// Forward streams until release is called: a peer that does not drain.
func BlockReceive(n *Node) (release func()) {
	ch := make(chan struct{})
	n.faults.recvGate.Store(&ch)
	var once sync.Once
	return func() {
		once.Do(func() {
			n.faults.recvGate.Store(nil)
			close(ch)
		})
	}
}

// BreakConnections closes the TCP connections n forwards to peerID over
// and returns how many it closed.
func BreakConnections(n *Node, peerID string) int {
	k := 0
	for _, mb := range n.table.list() {
		if mb.nodeID == peerID {
			k += mb.peer.breakConnections()
		}
	}
	return k
}
