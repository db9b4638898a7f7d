package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mqttio/mqttio/cluster/fsm"
	clusterpb "github.com/mqttio/mqttio/proto"
)

// reconciler is the state of the reconcile loop: bootstrap progress on a
// node without state, dead-server clocks and pending registry writes on
// the leader.
type reconciler struct {
	// Bootstrap: the candidate set last seen and since when.
	bootKey     string
	bootServers []raft.Server
	bootSince   time.Time
	waitLogged  bool

	wasLeader    bool
	missingSince map[raft.ServerID]time.Time
	quorumLogged map[raft.ServerID]bool

	pendingMu sync.Mutex
	pending   map[string]bool // registry writes in flight, by node id
	expiring  atomic.Bool     // an ExpireRetained in flight
}

// loop runs the reconciliation every ReconcileInterval and whenever gossip
// changes: a node without Raft state looks for a bootstrap; the leader
// keeps the configuration, the node registry and retained expiry in line.
func (r *raftNode) loop() {
	defer r.n.wg.Done()
	t := time.NewTicker(r.n.cfg.Timings.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-r.n.stop:
			return
		case <-t.C:
		case <-r.kick:
		}
		r.updateStateFlag()
		if cf := r.raft.GetConfiguration(); cf.Error() == nil {
			r.remember(cf.Configuration().Servers)
		}
		leader := r.raft.State() == raft.Leader
		if leader != r.rec.wasLeader {
			// A new leader starts its dead-server clocks afresh.
			r.rec.wasLeader = leader
			r.rec.missingSince = make(map[raft.ServerID]time.Time)
			r.rec.quorumLogged = make(map[raft.ServerID]bool)
		}
		switch {
		case leader:
			r.reconcile()
		case !r.hasState.Load():
			r.maybeBootstrap()
		}
	}
}

// updateStateFlag notices that this node got Raft state (bootstrapped, or
// added by a leader) and says so in its metadata.
func (r *raftNode) updateStateFlag() {
	if r.hasState.Load() || r.raft.LastIndex() == 0 {
		return
	}
	r.hasState.Store(true)
	r.n.republishMeta()
}

// bootstrapSettle is how long a candidate set must stay the same before
// its nodes bootstrap: long enough for gossip to show every member to
// every other.
func (r *raftNode) bootstrapSettle() time.Duration {
	t := r.n.cfg.Timings
	return 3*t.GossipInterval + t.ProbeInterval
}

// maybeBootstrap founds the cluster when BootstrapExpect nodes without
// Raft state, all expecting that many, have seen each other for a while:
// every one of them bootstraps with the same sorted server list (the
// BootstrapExpect smallest node ids, if more showed up). A node that sees
// a member with Raft state outside that list never bootstraps: a cluster
// exists, and its leader adds this node.
func (r *raftNode) maybeBootstrap() {
	n := r.n
	expect := n.cfg.BootstrapExpect
	if expect == 0 || r.bootstrapped.Load() {
		return
	}
	rec := &r.rec
	cands := []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(n.cfg.NodeID), Address: raft.ServerAddress(r.layer.adv)}}
	siblingFounded := false
	for _, m := range n.table.raftMembers() {
		if m.hasState {
			if slices.ContainsFunc(rec.bootServers, func(s raft.Server) bool { return string(s.ID) == m.nodeID }) {
				// One of the set this node settled on bootstrapped
				// with it: so does this node.
				siblingFounded = true
				continue
			}
			if !rec.waitLogged {
				n.log.Info("cluster: a member has Raft state; waiting for the leader to add this node", "member", m.nodeID)
				rec.waitLogged = true
			}
			rec.bootKey, rec.bootServers = "", nil
			return
		}
		if int(m.expect) != expect {
			n.log.Debug("cluster: member with another bootstrap_expect ignored for the bootstrap", "member", m.nodeID, "expect", m.expect)
			continue
		}
		cands = append(cands, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.nodeID), Address: raft.ServerAddress(m.addr)})
	}
	if siblingFounded {
		r.bootstrap(rec.bootServers)
		return
	}
	if len(cands) < expect {
		rec.bootKey, rec.bootServers = "", nil
		return
	}
	slices.SortFunc(cands, func(a, b raft.Server) int { return strings.Compare(string(a.ID), string(b.ID)) })
	cands = cands[:expect]
	ids := make([]string, len(cands))
	for i, s := range cands {
		ids[i] = string(s.ID) + "@" + string(s.Address)
	}
	key := strings.Join(ids, ",")
	if key != rec.bootKey {
		rec.bootKey, rec.bootServers, rec.bootSince = key, cands, time.Now()
		return
	}
	if time.Since(rec.bootSince) < r.bootstrapSettle() {
		return
	}
	r.bootstrap(cands)
}

func (r *raftNode) bootstrap(servers []raft.Server) {
	n := r.n
	if !slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == n.cfg.NodeID }) {
		return // not one of the founders: the leader will add this node
	}
	err := r.wait(r.raft.BootstrapCluster(raft.Configuration{Servers: servers}))
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		n.log.Error("cluster: raft bootstrap failed", "err", err)
		return
	}
	r.bootstrapped.Store(true)
	r.hasState.Store(true)
	n.republishMeta()
	n.log.Info("cluster: raft cluster bootstrapped", "servers", r.rec.bootKey)
}

// reconcile brings the configuration in line with gossip (leader only):
// members not in it are added (voters up to RaftVoters, then non-voters),
// non-voters promoted when voters are missing,
// and servers absent from gossip longer than DeadServerTimeout removed,
// one per round, never leaving fewer live voters than a quorum of the
// rest. Then the node registry and retained expiry.
func (r *raftNode) reconcile() {
	n := r.n
	cf := r.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return
	}
	servers := cf.Configuration().Servers
	members := n.table.raftMembers()
	alive := map[raft.ServerID]raftMember{raft.ServerID(n.cfg.NodeID): {nodeID: n.cfg.NodeID, startID: n.startID, addr: string(r.layer.adv)}}
	for _, m := range members {
		alive[raft.ServerID(m.nodeID)] = m
	}
	inConf := make(map[raft.ServerID]raft.Server, len(servers))
	voters := 0
	for _, s := range servers {
		inConf[s.ID] = s
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	timeout := n.cfg.ProposeTimeout
	change := func(what string, f raft.IndexFuture, id raft.ServerID, addr string) bool {
		if err := r.wait(f); err != nil {
			n.log.Warn("cluster: raft configuration change failed", "change", what, "server", id, "err", err)
			return false
		}
		n.log.Info("cluster: raft configuration changed", "change", what, "server", id, "address", addr)
		return true
	}

	for _, m := range members {
		id, addr := raft.ServerID(m.nodeID), raft.ServerAddress(m.addr)
		_, ok := inConf[id]
		switch {
		case !ok && voters < n.cfg.RaftVoters:
			if !change("add voter", r.raft.AddVoter(id, addr, 0, timeout), id, m.addr) {
				return
			}
			voters++
			r.stats.added.Add(1)
		case !ok:
			if !change("add non-voter", r.raft.AddNonvoter(id, addr, 0, timeout), id, m.addr) {
				return
			}
			r.stats.added.Add(1)
		}
		// A server that came back on another address keeps the old one
		// in the configuration: Raft dials the address gossip gives
		// (raftNode.ServerAddr). Rewriting it would race in hashicorp/raft
		// (followerReplication.peer is read unlocked).
	}
	for _, s := range servers {
		if voters >= n.cfg.RaftVoters {
			break
		}
		if _, ok := alive[s.ID]; ok && s.Suffrage == raft.Nonvoter {
			if !change("promote to voter", r.raft.AddVoter(s.ID, s.Address, 0, timeout), s.ID, string(s.Address)) {
				return
			}
			voters++
			r.stats.promoted.Add(1)
		}
	}

	now := time.Now()
	rec := &r.rec
	for id := range rec.missingSince {
		if _, ok := inConf[id]; !ok {
			delete(rec.missingSince, id)
		}
	}
	for _, s := range servers {
		if _, ok := alive[s.ID]; ok {
			delete(rec.missingSince, s.ID)
			delete(rec.quorumLogged, s.ID)
			continue
		}
		since, ok := rec.missingSince[s.ID]
		if !ok {
			rec.missingSince[s.ID] = now
			continue
		}
		if now.Sub(since) < n.cfg.DeadServerTimeout {
			continue
		}
		if !canRemove(servers, func(id raft.ServerID) bool { _, ok := alive[id]; return ok }, s.ID) {
			if !rec.quorumLogged[s.ID] {
				n.log.Warn("cluster: dead server kept: removing it would leave fewer live voters than a quorum", "server", s.ID)
				rec.quorumLogged[s.ID] = true
			}
			continue
		}
		if change(fmt.Sprintf("remove server absent for %s", now.Sub(since).Round(time.Millisecond)), r.raft.RemoveServer(s.ID, 0, timeout), s.ID, string(s.Address)) {
			r.stats.removed.Add(1)
			delete(rec.missingSince, s.ID)
		}
		return // one removal per round: the next sees the new configuration
	}

	r.reconcileRegistry(alive)
	r.expireRetained(now)
}

// canRemove reports whether removing target leaves at least a quorum of
// the remaining voters alive. Non-voters can always go.
func canRemove(servers []raft.Server, alive func(raft.ServerID) bool, target raft.ServerID) bool {
	voters, liveOthers, isVoter := 0, 0, false
	for _, s := range servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if s.ID == target {
			isVoter = true
		} else if alive(s.ID) {
			liveOthers++
		}
	}
	if !isVoter {
		return true
	}
	remaining := voters - 1
	return remaining > 0 && liveOthers >= remaining/2+1
}

// reconcileRegistry writes the node registry from gossip: alive members
// with their incarnation, registered nodes no longer in gossip as down.
func (r *raftNode) reconcileRegistry(alive map[raft.ServerID]raftMember) {
	records, err := r.fsm.Nodes()
	if err != nil {
		r.log.Error("cluster: reading the node registry", "err", err)
		return
	}
	byID := make(map[string]*clusterpb.NodeRecord, len(records))
	for _, rec := range records {
		byID[rec.GetNodeId()] = rec
	}
	for _, m := range alive {
		if rec := byID[m.nodeID]; rec == nil || !rec.GetAlive() || rec.GetStartId() != m.startID {
			r.setNode(&clusterpb.SetNode{NodeId: m.nodeID, Alive: true, StartId: m.startID})
		}
	}
	for id, rec := range byID {
		if _, ok := alive[raft.ServerID(id)]; !ok && rec.GetAlive() {
			r.setNode(&clusterpb.SetNode{NodeId: id, Alive: false})
		}
	}
}

func (r *raftNode) setNode(c *clusterpb.SetNode) {
	rec := &r.rec
	rec.pendingMu.Lock()
	if rec.pending == nil {
		rec.pending = make(map[string]bool)
	}
	if rec.pending[c.NodeId] {
		rec.pendingMu.Unlock()
		return
	}
	rec.pending[c.NodeId] = true
	rec.pendingMu.Unlock()
	cmd, err := fsm.Command(fsm.CmdSetNode, c)
	if err != nil {
		return
	}
	r.prop.submit(cmd, "node\x00"+c.NodeId, func(error) {
		rec.pendingMu.Lock()
		delete(rec.pending, c.NodeId)
		rec.pendingMu.Unlock()
	})
}

// expireRetained proposes ExpireRetained when a retained message is due:
// every node then drops it from its index when the entry applies.
func (r *raftNode) expireRetained(now time.Time) {
	next := r.fsm.NextExpiry()
	if next == 0 || next > now.UnixNano() || !r.rec.expiring.CompareAndSwap(false, true) {
		return
	}
	cmd, err := fsm.Command(fsm.CmdExpireRetained, &clusterpb.ExpireRetained{})
	if err != nil {
		r.rec.expiring.Store(false)
		return
	}
	r.prop.submit(cmd, "expire", func(error) { r.rec.expiring.Store(false) })
}

// RemoveServer removes a node from the Raft configuration by hand (the
// admin API and CLI), through the leader, and waits for the change to
// commit or ctx to end. It refuses a node that is alive in gossip: the
// leader would add it back at once; stop it first. Dead nodes are also
// removed automatically after Config.DeadServerTimeout.
func (n *Node) RemoveServer(ctx context.Context, nodeID string) error {
	r := n.raft
	if r == nil || r.raft == nil {
		return ErrNoRaft
	}
	if nodeID == n.cfg.NodeID {
		return errors.New("cluster: a node cannot remove itself; stop it and remove it from another node")
	}
	if n.table.latest(nodeID) != nil {
		return fmt.Errorf("cluster: node %s is alive; stop it before removing it (else the leader adds it back)", nodeID)
	}
	backoff := 10 * time.Millisecond
	for {
		var err error
		if r.raft.State() == raft.Leader {
			err = r.removeLocal(nodeID)
			if !errors.Is(err, raft.ErrNotLeader) {
				return err
			}
		} else if _, id := r.raft.LeaderWithID(); id != "" {
			if mb := n.table.latest(string(id)); mb != nil {
				_, err = mb.peer.client.RemoveServer(ctx, &clusterpb.RemoveServerRequest{NodeId: nodeID})
				st, _ := status.FromError(err)
				if err == nil || st.Code() != codes.FailedPrecondition || st.Message() != notLeader {
					if err != nil {
						return fmt.Errorf("cluster: remove server: %s", st.Message())
					}
					return nil
				}
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("cluster: remove server %s: no leader: %w", nodeID, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// removeLocal removes a server (this node leads).
func (r *raftNode) removeLocal(nodeID string) error {
	if r.n.table.latest(nodeID) != nil {
		return fmt.Errorf("cluster: node %s is alive for the leader; stop it before removing it", nodeID)
	}
	cf := r.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return err
	}
	if !slices.ContainsFunc(cf.Configuration().Servers, func(s raft.Server) bool { return string(s.ID) == nodeID }) {
		return fmt.Errorf("cluster: %s is not a Raft server", nodeID)
	}
	if err := r.wait(r.raft.RemoveServer(raft.ServerID(nodeID), 0, r.n.cfg.ProposeTimeout)); err != nil {
		return err
	}
	r.stats.removed.Add(1)
	r.log.Info("cluster: raft server removed by hand", "server", nodeID)
	return nil
}

// RemoveServer serves a follower's RemoveServer (the Cluster gRPC
// service).
func (s *service) RemoveServer(ctx context.Context, req *clusterpb.RemoveServerRequest) (*clusterpb.RemoveServerResponse, error) {
	r := s.n.raft
	if r == nil || r.raft == nil {
		return nil, status.Error(codes.FailedPrecondition, "raft not enabled")
	}
	if r.raft.State() != raft.Leader {
		return nil, status.Error(codes.FailedPrecondition, notLeader)
	}
	err := r.removeLocal(req.GetNodeId())
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return nil, status.Error(codes.FailedPrecondition, notLeader)
	case err != nil:
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &clusterpb.RemoveServerResponse{}, nil
}

// RaftServer is one server of the Raft configuration.
type RaftServer struct {
	ID      string
	Address string
	Voter   bool
	Leader  bool
}

// RaftStatus describes this node's Raft member.
type RaftStatus struct {
	Enabled      bool
	State        string // Follower, Candidate, Leader, Shutdown
	LeaderID     string // "" when no leader is known
	Term         uint64
	LastIndex    uint64
	CommitIndex  uint64
	AppliedIndex uint64 // the FSM's
	HasState     bool
	Bootstrapped bool // this process bootstrapped the cluster
	Recovered    bool // this process applied a peers.json
	Servers      []RaftServer
	Retained     int // retained messages in the replicated state

	FSM fsm.Stats
	// Proposals: commands submitted, coalesced into a queued one of the
	// same key, committed and failed (per waiter); entries proposed and
	// batches forwarded to the leader.
	Proposed, Coalesced, Committed, Failed, Entries, Forwarded int64
	// Configuration changes made by this node as leader, and leadership
	// handed over on Leave.
	Added, Promoted, Removed, Transfers int64
}

// RaftStatus returns this node's Raft status; Enabled is false without
// Raft.
func (n *Node) RaftStatus() RaftStatus {
	r := n.raft
	if r == nil || r.raft == nil {
		return RaftStatus{}
	}
	_, leader := r.raft.LeaderWithID()
	st := RaftStatus{
		Enabled:      true,
		State:        r.raft.State().String(),
		LeaderID:     string(leader),
		Term:         r.raft.CurrentTerm(),
		LastIndex:    r.raft.LastIndex(),
		CommitIndex:  r.raft.CommitIndex(),
		AppliedIndex: r.fsm.AppliedIndex(),
		HasState:     r.hasState.Load(),
		Bootstrapped: r.bootstrapped.Load(),
		Recovered:    r.recovered.Load(),
		Retained:     r.fsm.RetainedCount(),
		FSM:          r.fsm.Stats(),
		Proposed:     r.stats.proposed.Load(),
		Coalesced:    r.stats.coalesced.Load(),
		Committed:    r.stats.committed.Load(),
		Failed:       r.stats.failed.Load(),
		Entries:      r.stats.entries.Load(),
		Forwarded:    r.stats.forwarded.Load(),
		Added:        r.stats.added.Load(),
		Promoted:     r.stats.promoted.Load(),
		Removed:      r.stats.removed.Load(),
		Transfers:    r.stats.transfers.Load(),
	}
	if cf := r.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			st.Servers = append(st.Servers, RaftServer{ID: string(s.ID), Address: string(s.Address),
				Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader})
		}
	}
	return st
}

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool {
	r := n.raft
	return r != nil && r.raft != nil && r.raft.State() == raft.Leader
}

// NodeState is a node of the replicated registry, written by the leader
// from gossip: wills and session expiry of a dead node's clients are
// handled from it (next part of the Raft work).
type NodeState struct {
	NodeID  string
	Alive   bool
	Since   time.Time // when Alive last changed, by the leader's clock
	StartID uint64    // the incarnation last seen alive
}

// Registry returns this node's copy of the node registry, sorted by id.
func (n *Node) Registry() ([]NodeState, error) {
	r := n.raft
	if r == nil {
		return nil, ErrNoRaft
	}
	recs, err := r.fsm.Nodes()
	if err != nil {
		return nil, err
	}
	out := make([]NodeState, len(recs))
	for i, rec := range recs {
		out[i] = NodeState{NodeID: rec.GetNodeId(), Alive: rec.GetAlive(), Since: time.Unix(0, rec.GetSince()), StartID: rec.GetStartId()}
	}
	slices.SortFunc(out, func(a, b NodeState) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out, nil
}

// CheckQuorum is a readiness check (/readyz "quorum reachable"): nil when
// Raft is off, when this node leads, or when it heard from a leader within
// twice the heartbeat timeout; else the node is cut off from a quorum (the
// minority side of a partition, or the cluster lost its quorum).
func (n *Node) CheckQuorum() error {
	r := n.raft
	if r == nil || r.raft == nil {
		return nil
	}
	switch r.raft.State() {
	case raft.Leader:
		return nil
	case raft.Shutdown:
		return errors.New("raft is shut down")
	}
	_, id := r.raft.LeaderWithID()
	if id == "" {
		return errors.New("no raft leader known")
	}
	if ago := time.Since(r.raft.LastContact()); ago > 2*n.cfg.Timings.RaftHeartbeatTimeout {
		return fmt.Errorf("no contact with the raft leader %s for %v", id, ago.Round(time.Millisecond))
	}
	return nil
}

// CheckJoined is a readiness check (/readyz "joined"): nil once the node
// is in a cluster with at least one other member, or when it has no seeds
// to join (a cluster of one).
func (n *Node) CheckJoined() error {
	switch {
	case !n.started.Load() || n.closed.Load():
		return errors.New("cluster node not running")
	case len(n.cfg.Join) > 0 && n.npeers.Load() == 0:
		return errors.New("not joined: no other cluster member reachable")
	}
	return nil
}
