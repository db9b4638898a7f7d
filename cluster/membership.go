package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/proto"

	clusterpb "github.com/mqttio/mqttio/proto"
)

// Gossip message types: the first byte of a user message.
const (
	msgRouteDelta byte = 1
)

// maxGossipMsg is the largest delta gossiped: with memberlist's framing,
// label and encryption it still fits one 1400-byte UDP packet. A route with
// a longer filter is not gossiped; peers find the gap through the digest
// and pull the table.
const maxGossipMsg = 1024

// maxQueuedBroadcasts bounds the deltas waiting to be gossiped; under heavy
// churn the oldest are pruned and the peers repair through the digest.
const maxQueuedBroadcasts = 4096

// maxQueuedMsgs bounds the gossip messages received but not yet applied.
// NotifyMsg drops beyond it (the digest repairs); membership events are
// never dropped.
const maxQueuedMsgs = 8192

// delegate is the node's face towards memberlist. Every method returns
// quickly: memberlist calls them from its gossip and probe goroutines,
// some with its own locks held.
type delegate struct{ n *Node }

// NodeMeta returns the current metadata (memberlist.Delegate).
func (d delegate) NodeMeta(limit int) []byte {
	b := *d.n.meta.Load()
	if len(b) > limit {
		// Checked by New against memberlist.MetaMaxSize; never here.
		d.n.log.Error("cluster: node metadata too large", "size", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg copies a gossip message and queues it (memberlist.Delegate).
func (d delegate) NotifyMsg(b []byte) {
	if len(b) == 0 {
		return
	}
	d.n.events.push(event{kind: evMsg, data: bytes.Clone(b)})
}

// GetBroadcasts hands memberlist the queued route deltas
// (memberlist.Delegate).
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.bcast.GetBroadcasts(overhead, limit)
}

// LocalState and MergeRemoteState carry nothing: route digests travel in
// the node metadata, which push/pull already exchanges.
func (d delegate) LocalState(join bool) []byte            { return nil }
func (d delegate) MergeRemoteState(buf []byte, join bool) {}
func (d delegate) NotifyJoin(n *memberlist.Node)          { d.n.events.push(nodeEvent(evJoin, n)) }
func (d delegate) NotifyLeave(n *memberlist.Node)         { d.n.events.push(nodeEvent(evLeave, n)) }
func (d delegate) NotifyUpdate(n *memberlist.Node)        { d.n.events.push(nodeEvent(evUpdate, n)) }
func (d delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.n.log.Warn("cluster: two members claim one name", "name", existing.Name,
		"addr", existing.Address(), "other", other.Address())
}

var _ memberlist.Delegate = delegate{}
var _ memberlist.EventDelegate = delegate{}

// deltaBroadcast is one encoded route delta in memberlist's queue. Deltas
// never invalidate each other: receivers apply them in version order.
type deltaBroadcast []byte

func (b deltaBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b deltaBroadcast) Message() []byte                       { return b }
func (b deltaBroadcast) Finished()                             {}

type eventKind uint8

const (
	evMsg eventKind = iota
	evJoin
	evLeave
	evUpdate
)

// event is a membership change or a gossip message, queued by the
// delegate for the control loop.
type event struct {
	kind eventKind
	name string // member name (join, leave, update)
	addr string
	data []byte // metadata, or the message
}

func nodeEvent(k eventKind, n *memberlist.Node) event {
	return event{kind: k, name: n.Name, addr: n.Address(), data: bytes.Clone(n.Meta)}
}

// eventQueue is an unbounded FIFO for membership events, with a bound for
// gossip messages: the delegate never blocks on it.
type eventQueue struct {
	mu     sync.Mutex
	q      []event
	msgs   int
	signal chan struct{}
	onDrop func()
}

func newEventQueue(onDrop func()) *eventQueue {
	return &eventQueue{signal: make(chan struct{}, 1), onDrop: onDrop}
}

func (e *eventQueue) push(ev event) {
	e.mu.Lock()
	if ev.kind == evMsg {
		if e.msgs >= maxQueuedMsgs {
			e.mu.Unlock()
			e.onDrop()
			return
		}
		e.msgs++
	}
	e.q = append(e.q, ev)
	e.mu.Unlock()
	select {
	case e.signal <- struct{}{}:
	default:
	}
}

// take returns everything queued.
func (e *eventQueue) take() []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.q
	e.q, e.msgs = nil, 0
	return q
}

// controlLoop applies membership events and gossip messages in the order
// memberlist delivered them.
func (n *Node) controlLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.events.signal:
		}
		for _, ev := range n.events.take() {
			switch ev.kind {
			case evMsg:
				n.handleGossip(ev.data)
			case evJoin:
				n.memberJoined(ev)
			case evUpdate:
				n.memberUpdated(ev)
			case evLeave:
				n.memberLeft(ev.name, "declared dead or left")
			}
		}
	}
}

func (n *Node) handleGossip(b []byte) {
	switch b[0] {
	case msgRouteDelta:
		var d clusterpb.RouteDelta
		if err := proto.Unmarshal(b[1:], &d); err != nil {
			n.log.Warn("cluster: bad route delta", "err", err)
			return
		}
		n.stats.deltasIn.Add(1)
		if n.table.applyDelta(&d) {
			if mb := n.table.get(d.GetMember()); mb != nil {
				n.pull(mb, "delta gap")
			}
		}
	default:
		n.log.Debug("cluster: unknown gossip message", "type", b[0])
	}
}

func decodeMeta(b []byte) (*clusterpb.NodeMeta, bool) {
	var m clusterpb.NodeMeta
	if err := proto.Unmarshal(b, &m); err != nil || m.GetNodeId() == "" || m.GetStartId() == 0 {
		return nil, false
	}
	return &m, true
}

func (n *Node) memberJoined(ev event) {
	if ev.name == n.name {
		return
	}
	meta, ok := decodeMeta(ev.data)
	if !ok {
		n.log.Warn("cluster: member without valid metadata ignored", "member", ev.name, "addr", ev.addr)
		return
	}
	if n.table.get(ev.name) != nil {
		n.memberUpdated(ev)
		return
	}
	if meta.GetNodeId() == n.cfg.NodeID {
		n.log.Error("cluster: another member uses this node's id; ignoring it", "member", ev.name, "addr", ev.addr)
		return
	}
	// The same node id with another start id is that node restarted: its
	// old incarnation is gone even if failure detection has not noticed.
	// Events may come in any order: the later start wins.
	for _, old := range n.table.list() {
		if old.nodeID != meta.GetNodeId() {
			continue
		}
		if old.startAt > meta.GetStarted() {
			n.log.Info("cluster: ignoring an earlier incarnation", "node", old.nodeID, "member", ev.name)
			return
		}
		n.memberLeft(old.name, "restarted")
	}
	mb := &member{
		name:        ev.name,
		gossipAddr:  ev.addr,
		nodeID:      meta.GetNodeId(),
		startID:     meta.GetStartId(),
		version:     meta.GetVersion(),
		startAt:     meta.GetStarted(),
		grpcAddr:    meta.GetGrpcAddress(),
		metaVersion: meta.GetRouteVersion(),
		metaHash:    meta.GetRouteHash(),

		raftAddr:        meta.GetRaftAddress(),
		raftState:       meta.GetRaftState(),
		bootstrapExpect: meta.GetBootstrapExpect(),
	}
	p, err := n.newPeer(mb)
	if err != nil {
		n.log.Error("cluster: cannot set up forwarding to member", "member", ev.name, "grpc", mb.grpcAddr, "err", err)
		return
	}
	mb.peer = p
	n.table.add(mb)
	n.npeers.Add(1)
	n.log.Info("cluster: member joined", "node", mb.nodeID, "member", mb.name, "gossip", ev.addr, "grpc", mb.grpcAddr, "raft", mb.raftAddr, "version", mb.version)
	n.pull(mb, "joined")
	n.kickRaft()
}

func (n *Node) memberUpdated(ev event) {
	mb := n.table.get(ev.name)
	if mb == nil {
		return
	}
	meta, ok := decodeMeta(ev.data)
	if !ok {
		return
	}
	n.table.mu.Lock()
	mb.metaVersion, mb.metaHash = meta.GetRouteVersion(), meta.GetRouteHash()
	raftChanged := mb.raftAddr != meta.GetRaftAddress() || mb.raftState != meta.GetRaftState()
	mb.raftAddr, mb.raftState, mb.bootstrapExpect = meta.GetRaftAddress(), meta.GetRaftState(), meta.GetBootstrapExpect()
	n.table.mu.Unlock()
	if raftChanged {
		n.kickRaft()
	}
}

// kickRaft runs the Raft reconciliation now (membership changed).
func (n *Node) kickRaft() {
	if n.raft != nil {
		n.raft.kickReconcile()
	}
}

// memberLeft drops a member's routes at once and ends forwarding to it;
// shared-subscription messages it had not acknowledged go to another node.
func (n *Node) memberLeft(name, why string) {
	mb := n.table.remove(name)
	if mb == nil {
		return
	}
	n.npeers.Add(-1)
	n.recv.forget(mb.startID)
	n.log.Info("cluster: member gone; routes dropped", "node", mb.nodeID, "member", name, "why", why)
	n.kickRaft()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		mb.peer.close(true)
	}()
}

// encodeMeta builds this node's metadata with the given route digest.
func (n *Node) encodeMeta(version, hash uint64) []byte {
	m := &clusterpb.NodeMeta{
		NodeId:       n.cfg.NodeID,
		StartId:      n.startID,
		Version:      n.cfg.Version,
		GrpcAddress:  n.grpcAdvertise,
		RouteVersion: version,
		RouteHash:    hash,
		Started:      n.startAt,
	}
	if r := n.raft; r != nil {
		m.RaftAddress = n.raftAdvertise
		m.RaftState = r.hasState.Load()
		m.BootstrapExpect = uint32(n.cfg.BootstrapExpect)
	}
	b, _ := proto.Marshal(m)
	return b
}

// setMeta stores the metadata with route digest (version, hash) and, with
// broadcast, has memberlist gossip it.
func (n *Node) setMeta(version, hash uint64, broadcast bool) {
	n.metaMu.Lock()
	n.metaRoutes = [2]uint64{version, hash}
	meta := n.encodeMeta(version, hash)
	n.meta.Store(&meta)
	n.metaMu.Unlock()
	if broadcast && n.ml != nil {
		if err := n.ml.UpdateNode(n.cfg.Timings.SyncInterval); err != nil {
			n.log.Debug("cluster: metadata update not yet broadcast", "err", err)
		}
	}
}

// republishMeta gossips the metadata again with the route digest last
// published (the Raft fields changed).
func (n *Node) republishMeta() {
	n.metaMu.Lock()
	d := n.metaRoutes
	n.metaMu.Unlock()
	n.setMeta(d[0], d[1], true)
}

// syncLoop publishes this node's route digest when it changed and pulls
// the table of any peer whose digest shows deltas were missed.
func (n *Node) syncLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Timings.SyncInterval)
	defer t.Stop()
	var published uint64
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if v, h := n.local.digest(); v != published {
			n.setMeta(v, h, true)
			published = v
		}
		n.checkDigests()
	}
}

// checkDigests compares each member's table with the digest in its
// metadata. A table still behind a version that was announced one sync ago
// missed a delta (or it was pruned, or too big to gossip); a table at the
// announced version with another hash diverged. Either way it is pulled.
func (n *Node) checkDigests() {
	var stale []*member
	n.table.mu.Lock()
	for _, mb := range n.table.members {
		target := mb.metaVersion
		for v := range mb.pending {
			target = max(target, v)
		}
		if (mb.suspect != 0 && mb.applied < mb.suspect) ||
			(mb.applied == mb.metaVersion && mb.hash != mb.metaHash) {
			stale = append(stale, mb)
		}
		mb.suspect = 0
		if mb.applied < target {
			mb.suspect = target
		}
	}
	n.table.mu.Unlock()
	for _, mb := range stale {
		n.pull(mb, "digest mismatch")
	}
}

// pull fetches mb's whole route table over gRPC in the background, unless
// a pull is already in flight.
func (n *Node) pull(mb *member, why string) {
	n.table.mu.Lock()
	if mb.pulling || !mb.alive.Load() {
		n.table.mu.Unlock()
		return
	}
	mb.pulling = true
	n.table.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			n.table.mu.Lock()
			mb.pulling = false
			n.table.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(mb.peer.ctx, 30*time.Second)
		defer cancel()
		version, routes, err := mb.peer.pullRoutes(ctx)
		if err != nil {
			if ctx.Err() == nil || mb.alive.Load() {
				n.log.Debug("cluster: route pull failed; retried at the next sync", "node", mb.nodeID, "err", err)
			}
			return
		}
		n.stats.pulls.Add(1)
		if n.table.replace(mb, version, routes) {
			n.log.Debug("cluster: pulled route table", "node", mb.nodeID, "why", why, "version", version, "routes", len(routes))
		}
	}()
}

// joinLoop joins the seeds, retrying with back-off while this node knows
// no other member, so that nodes may start in any order. Once in a
// cluster it still checks every MaxJoinRetry that each seed is a member
// and joins the ones that are not: that heals a partition after which
// both sides declared the other dead.
func (n *Node) joinLoop() {
	defer n.wg.Done()
	if len(n.cfg.Join) == 0 {
		return
	}
	t := n.cfg.Timings
	delay := t.JoinRetry
	timer := time.NewTimer(0)
	defer timer.Stop()
	joined := false
	for {
		select {
		case <-n.stop:
			return
		case <-timer.C:
		}
		seeds := n.cfg.Join
		if n.ml.NumMembers() > 1 {
			if seeds = n.missingSeeds(); len(seeds) == 0 {
				timer.Reset(t.MaxJoinRetry)
				continue
			}
		}
		k, err := n.ml.Join(seeds)
		switch {
		case err == nil && n.ml.NumMembers() > 1:
			if !joined {
				n.log.Info("cluster: joined", "seeds_answered", k, "members", n.ml.NumMembers())
			}
			joined = true
			delay = t.JoinRetry
			timer.Reset(t.MaxJoinRetry)
			continue
		case joined:
			// In a cluster; a seed that is down is not news.
			n.log.Debug("cluster: seed not reachable", "seeds", seeds, "err", err)
		default:
			n.stats.joinFailures.Add(1)
			n.log.Debug("cluster: join failed; retrying", "seeds", seeds, "err", err, "retry_in", delay)
		}
		if joined {
			timer.Reset(t.MaxJoinRetry)
			continue
		}
		timer.Reset(delay)
		delay = min(2*delay, t.MaxJoinRetry)
	}
}

// missingSeeds returns the seeds with an address that is not an alive
// member's (nor this node's).
func (n *Node) missingSeeds() []string {
	// Addresses as the membership events gave them: memberlist's own
	// Members() hands out nodes it keeps updating.
	alive := map[string]bool{n.gossipAddr: true}
	for _, mb := range n.table.list() {
		alive[mb.gossipAddr] = true
	}
	_, defPort, _ := net.SplitHostPort(n.gossipAddr)
	var out []string
	for _, seed := range n.cfg.Join {
		host, port, err := net.SplitHostPort(seed)
		if err != nil {
			host, port = seed, defPort
		}
		ips, err := net.LookupIP(host)
		if err != nil {
			continue // unresolvable now; tried again later
		}
		for _, ip := range ips {
			if !alive[net.JoinHostPort(ip.String(), port)] {
				out = append(out, seed)
				break
			}
		}
	}
	return out
}

// memberlistConfig builds memberlist's configuration from ours.
func (n *Node) memberlistConfig(bindHost string, bindPort int, advHost string, advPort int, key []byte) *memberlist.Config {
	t := n.cfg.Timings
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.name
	mc.Label = "mqttio"
	mc.BindAddr, mc.BindPort = bindHost, bindPort
	mc.AdvertiseAddr, mc.AdvertisePort = advHost, advPort
	mc.ProbeInterval, mc.ProbeTimeout = t.ProbeInterval, t.ProbeTimeout
	mc.GossipInterval, mc.PushPullInterval = t.GossipInterval, t.PushPullInterval
	mc.GossipToTheDeadTime, mc.TCPTimeout = t.GossipToTheDead, t.TCPTimeout
	mc.SuspicionMult, mc.RetransmitMult = t.SuspicionMult, t.RetransmitMult
	mc.Delegate = delegate{n}
	mc.Events = delegate{n}
	mc.Conflict = delegate{n}
	mc.Logger = log.New(slogWriter{n.log}, "", 0)
	if key != nil {
		mc.SecretKey = key
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	return mc
}

// slogWriter turns memberlist's log lines ("[WARN] memberlist: ...") into
// slog records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	s := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{
		"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError,
	} {
		if strings.HasPrefix(s, prefix) {
			s, level = strings.TrimSpace(s[len(prefix):]), l
			break
		}
	}
	w.l.Log(context.Background(), level, s)
	return len(p), nil
}
