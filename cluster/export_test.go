package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"

	clusterpb "github.com/mqttio/mqttio/proto"
)

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

// Isolate cuts n off the Raft group (or reconnects it), as a network
// partition would: its Raft connections are closed and refused both ways,
// and the proposals it forwards to the leader, or receives, go nowhere.
// Gossip and publish forwarding are untouched.
func Isolate(n *Node, on bool) {
	n.faults.isolated.Store(on)
	n.raft.layer.block(on)
}

// ForceSnapshot makes n's Raft take a snapshot now (and compact its log
// down to Config.TrailingLogs).
func ForceSnapshot(n *Node) error { return n.raft.raft.Snapshot().Error() }

// CanRemove exposes the dead-server quorum rule.
func CanRemove(voters, nonvoters []string, alive map[string]bool, target string) bool {
	var servers []raft.Server
	for _, v := range voters {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v)})
	}
	for _, v := range nonvoters {
		servers = append(servers, raft.Server{Suffrage: raft.Nonvoter, ID: raft.ServerID(v)})
	}
	return canRemove(servers, func(id raft.ServerID) bool { return alive[string(id)] }, raft.ServerID(target))
}

// LeaderLastContact is how long ago n heard from its leader (0 when it
// leads).
func LeaderLastContact(n *Node) time.Duration {
	if n.IsLeader() {
		return 0
	}
	return time.Since(n.raft.raft.LastContact())
}

// FSMRetained returns the topics and payloads of the retained messages in
// n's replicated state.
func FSMRetained(n *Node) map[string]string {
	out := map[string]string{}
	n.raft.fsm.Retained(func(m *clusterpb.RetainedMessage) bool {
		out[m.GetTopic()] = string(m.GetPayload())
		return true
	})
	return out
}
