// Package cluster turns mqttio brokers into one: it implements the
// broker's Cluster interface with gossip membership (hashicorp/memberlist),
// shared route tables, publish forwarding over gRPC (proto/), and the
// state every node agrees on through Raft (hashicorp/raft; the state
// machine is cluster/fsm). docs/cluster.md is the operator's view.
//
// # Wiring
//
//	node, err := cluster.New(cluster.Config{NodeID: id, Bind: ..., Join: seeds, ...})
//	srv, err := broker.New(broker.Options{NodeID: id, Cluster: node, ...})
//	err = node.Start(srv)      // binds gRPC and gossip, joins in the background
//	...
//	srv.Shutdown(ctx)          // clients first: what they published still goes out
//	node.Leave(ctx)            // drains the forwarding queues, hands Raft
//	                           // leadership over, leaves, closes
//
// # Membership
//
// Every node is a memberlist member named "<node id>#<start id>", the start
// id being random per process start: a restarted node is a new member and
// starts with a clean route table everywhere, and the old incarnation is
// dropped as soon as the new one is seen (or when it is declared dead).
// The metadata (clusterpb.NodeMeta) carries the node id, the start id, the
// software version, the gRPC address (no port arithmetic) and the route
// digest. Seeds (Config.Join) are retried with back-off until one answers,
// so nodes start in any order; a node also rejoins seeds that are no longer
// members, which heals a partition. Gossip can be encrypted (GossipKey).
//
// The memberlist delegates never block: NotifyMsg copies the message and
// queues it, join/leave/update events are queued, and one control
// goroutine applies them in order.
//
// # Routes
//
// The broker calls RouteAdded for the first subscriber of a (filter, shared
// group) on this node and RouteRemoved after the last one leaves. The node
// checks each call against the broker (Server.HasRoute), so announcements
// that raced each other settle on the true state, and gossips a delta
// (clusterpb.RouteDelta) numbered by a per-node version. Receivers apply
// deltas in version order, holding early ones back. A node's metadata
// carries its digest (version, XOR of the route hashes), republished at
// most once per SyncInterval; a peer whose table is still behind a version
// announced one sync ago, or at that version with another hash, pulls the
// whole table over gRPC (Routes). New members are pulled at once. Deltas
// larger than a UDP packet are not gossiped (the pull covers them), and
// under heavy churn the broadcast queue is pruned the same way. When a
// member is declared dead its routes are dropped at once.
//
// The other nodes' routes live in a topic.Trie whose subscribers are the
// members, so "which nodes want topic T" is one Match.
//
// # Forwarding
//
// Forward queues a publish once for each node with a matching route, on
// one of Config.Streams streams to that node chosen by hashing the
// publisher's client id: one publisher's messages stay in order. Each
// stream has one sender goroutine that takes whatever is queued (up to
// MaxBatchBytes) and sends it as one batch: no timers. Queues are bounded
// in bytes: above QueueBytes a publisher is stalled at most MaxStall per
// congestion, then QoS 0 messages are dropped and counted; QoS 1/2 are kept
// up to MaxQueueBytes and beyond that dropped, counted and logged, never
// silently.
//
// QoS 1/2 messages carry a per-stream sequence number. The receiver
// delivers a batch (Server.DeliverForwarded: local subscribers only, with
// no-local, retain-as-published, QoS downgrade and subscription
// identifiers applied as for a local publish) and acknowledges cumulatively,
// after its store commit when delivery wrote to it. The sender keeps what
// is unacknowledged; when a stream breaks it opens a new one and replays
// those first. The receiver drops what it already delivered, by (sender
// start id, stream, sequence) within the sender's peer epoch, so a replay
// neither loses nor duplicates.
//
// # Shared subscriptions
//
// The broker delivers a message to one local member of each matching
// group that has members on the publishing node. For each other matching
// group, Forward picks one node that has the group (round-robin) and sends
// the message there for that group only (Delivery.Groups), so every group
// gets each message once cluster-wide. A QoS 1/2 message whose node died
// before acknowledging it, or that answered it no longer has the group, is
// offered to another node (at most three tries), or to a local member that
// has appeared since.
//
// # What can be lost
//
// The publisher's PUBACK/PUBREC is sent by the broker after local
// persistence; forwarding is asynchronous. So:
//   - If the publishing node dies, the QoS 1/2 messages it had queued for a
//     peer or sent without an acknowledgement yet are lost for that peer's
//     subscribers (at most MaxQueueBytes per stream; in practice what
//     accumulated in the last round trip). Nothing acknowledged by a peer is
//     lost by the publishing node's death.
//   - If a receiving node dies, its subscribers' unacknowledged messages die
//     with it (they were connected to it); shared-group messages are
//     re-dispatched to another node, so a group member elsewhere may get a
//     message the dead node had already delivered: at least once, as
//     [MQTT-4.8.2] allows.
//   - A broken stream between two live nodes loses no QoS 1/2 message and
//     duplicates none; QoS 0 messages in flight may be lost.
//   - QoS 0 messages are dropped above the high-water mark (Stats).
//   - A node falsely declared dead by failure detection is dropped like a
//     dead one; it refutes, rejoins and is pulled again.
//
// # Raft
//
// With Config.RaftDir set, the node is a Raft server: log and stable store
// in bbolt (raft-boltdb behind a log cache), snapshots on disk, the state
// machine in its own bbolt file (cluster/fsm: the applied index is written
// in the same transaction as the data, Snapshot streams a read
// transaction, Restore swaps in a fresh file). The transport is Raft's
// NetworkTransport on its own port, over TLS when the cluster has it; a
// server's address is looked up by node id in the gossip metadata, so a
// node that comes back on another address is reached at once.
//
// Bootstrap: a node without state whose BootstrapExpect nodes without
// state (expecting as many) have seen each other for a moment bootstraps
// with the same sorted list as the others. A node with state never does; a
// node without state that sees a member with state waits to be added. The
// leader reconciles the configuration with gossip (ReconcileInterval, and
// on every membership change): it adds members (voters up to RaftVoters,
// then non-voters), promotes non-voters when voters are missing, removes
// servers absent longer than DeadServerTimeout unless the live voters left
// would be fewer than a quorum of the rest, and keeps the node registry
// (alive/down) and retained expiry. Leave hands leadership over and keeps
// the node's seat; RemoveServer removes a dead node by hand.
//
// Proposals: commands (one type byte and a protobuf body, proto/raft.proto)
// are queued; one goroutine proposes whatever gathered while the previous
// entry was in flight, as one entry, on the leader or forwarded to it over
// gRPC (Propose), retrying only on "not leader", within ProposeTimeout.
// Retained changes of one topic coalesce while queued. Waiters are
// released once the entry is committed and applied on the proposing node.
// The FSM reports every change to the broker synchronously
// (Server.ApplyRetained, Server.ResetRetained after a restore): nothing is
// queued, nothing dropped.
//
// Retained messages: the node implements broker.RetainedReplicator, so the
// core proposes every retained change instead of storing it, and
// acknowledges a QoS 1/2 retained publish after the commit; without a
// quorum within ProposeTimeout the publisher is disconnected unacknowledged
// (docs/cluster.md). Sessions are not replicated yet: a session lives on
// the node it was created on.
package cluster
