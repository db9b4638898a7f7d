package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/cluster/fsm"
	clusterpb "github.com/mqttio/mqttio/proto"
)

// Files of the Raft directory (Config.RaftDir).
const (
	raftDBFile    = "raft.db"   // log and stable store (raft-boltdb)
	fsmFile       = "fsm.db"    // the replicated state (cluster/fsm)
	snapshotsDir  = "snapshots" // FileSnapshotStore
	peersJSONFile = "peers.json"
	// snapshotsRetained is how many snapshots are kept on disk.
	snapshotsRetained = 2
	// logCacheSize is how many recent log entries stay in memory.
	logCacheSize = 512
)

// ErrNoRaft is returned by the Raft operations of a node configured
// without a Raft directory.
var ErrNoRaft = errors.New("cluster: Raft is not enabled on this node (no raft directory)")

// raftNode is the node's member of the Raft group: the replicated state
// (FSM), the log and stable store, the snapshots and the transport, and
// the goroutines that batch proposals and reconcile the configuration.
type raftNode struct {
	n     *Node
	log   *slog.Logger
	dir   string
	fsm   *fsm.FSM
	store *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore
	layer *streamLayer
	trans *raft.NetworkTransport
	raft  *raft.Raft
	prop  *proposer
	kick  chan struct{} // capacity 1: reconcile now
	// closing is closed when the node starts closing: Raft leaves some
	// futures unanswered when it shuts down, so nobody waits on one
	// beyond this (see wait).
	closing chan struct{}

	hasState     atomic.Bool // Raft state exists (log, snapshot or term)
	bootstrapped atomic.Bool // this process bootstrapped the cluster
	recovered    atomic.Bool // this process applied a peers.json

	// known maps server ids to the addresses of the last configuration
	// seen: the dial fallback when gossip does not know a server.
	knownMu sync.Mutex
	known   map[raft.ServerID]raft.ServerAddress

	stats raftCounters
	rec   reconciler // owned by the reconcile goroutine

	closeOnce sync.Once
}

type raftCounters struct {
	proposed, entries, forwarded, coalesced, committed, failed atomic.Int64
	added, promoted, removed, transfers                        atomic.Int64
}

// openRaft opens the Raft directory (FSM, stores) and binds the Raft
// listener; the transport and Raft itself start in startRaft, once the
// advertised addresses are known. The broker's retained index is replaced
// with the FSM's: the replicated state, not the local store, is the truth.
func (n *Node) openRaft(srv *broker.Server) (r *raftNode, err error) {
	dir := n.cfg.RaftDir
	if err := os.MkdirAll(filepath.Join(dir, snapshotsDir), 0o750); err != nil {
		return nil, fmt.Errorf("cluster: raft directory: %w", err)
	}
	r = &raftNode{n: n, log: n.log, dir: dir, kick: make(chan struct{}, 1), closing: make(chan struct{}),
		known: make(map[raft.ServerID]raft.ServerAddress)}
	defer func() {
		if err != nil {
			r.closeFiles()
		}
	}()
	if r.fsm, err = fsm.Open(fsm.Options{Path: filepath.Join(dir, fsmFile), Notifier: fsmNotifier{n}, Logger: n.log}); err != nil {
		return nil, err
	}
	if r.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, raftDBFile)}); err != nil {
		return nil, fmt.Errorf("cluster: raft log: %w", err)
	}
	hl := hclogFor(n.log)
	if r.snaps, err = raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hl.Named("snapshots")); err != nil {
		return nil, fmt.Errorf("cluster: raft snapshots: %w", err)
	}
	has, err := raft.HasExistingState(r.store, r.store, r.snaps)
	if err != nil {
		return nil, fmt.Errorf("cluster: raft state: %w", err)
	}
	r.hasState.Store(has)
	if !has && r.fsm.AppliedIndex() > 0 {
		// A state machine without the log it came from (raft.db and the
		// snapshots were lost): its applied index would make this node
		// skip the entries of the log it is about to receive. Start it
		// afresh; the leader sends everything.
		n.log.Warn("cluster: fsm.db without raft state; discarding it", "applied", r.fsm.AppliedIndex())
		r.fsm.Close()
		if err := os.Remove(filepath.Join(dir, fsmFile)); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		if r.fsm, err = fsm.Open(fsm.Options{Path: filepath.Join(dir, fsmFile), Notifier: fsmNotifier{n}, Logger: n.log}); err != nil {
			return nil, err
		}
	}

	srv.ResetRetained(r.retainedSeq())

	lis, err := net.Listen("tcp", n.cfg.RaftAddress)
	if err != nil {
		return nil, fmt.Errorf("cluster: cluster.raft_address: %v", err)
	}
	r.layer = &streamLayer{lis: lis, conns: make(map[*trackedConn]struct{})}
	if n.cfg.TLS.enabled() {
		r.layer.serverTLS, r.layer.clientTLS, err = n.cfg.TLS.tlsConfigs()
		if err != nil {
			lis.Close()
			return nil, err
		}
	}
	return r, nil
}

// startRaft creates the transport and starts Raft, applying a peers.json
// first if there is one (manual recovery from lost quorum).
func (r *raftNode) startRaft(advertise string) error {
	n := r.n
	t := n.cfg.Timings
	hl := hclogFor(n.log)
	r.layer.adv = tcpAddr(advertise)
	r.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		ServerAddressProvider: r,
		Logger:                hl.Named("transport"),
		Stream:                r.layer,
		MaxPool:               3,
		Timeout:               t.TCPTimeout,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.HeartbeatTimeout = t.RaftHeartbeatTimeout
	rc.ElectionTimeout = t.RaftElectionTimeout
	rc.LeaderLeaseTimeout = t.RaftLeaderLeaseTimeout
	rc.CommitTimeout = t.RaftCommitTimeout
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.ShutdownOnRemove = false // a removed node that comes back is added again
	// No BatchApplyCh: the proposer batches, and a buffered apply
	// channel leaves futures unanswered at shutdown.
	rc.NoLegacyTelemetry = true
	rc.Logger = hl
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("cluster: raft timings: %w", err)
	}
	logs, err := raft.NewLogCache(logCacheSize, r.store)
	if err != nil {
		return err
	}
	if err := r.recoverPeers(rc, logs); err != nil {
		return err
	}
	r.raft, err = raft.NewRaft(rc, r.fsm, logs, r.store, r.snaps, r.trans)
	if err != nil {
		return fmt.Errorf("cluster: raft: %w", err)
	}
	r.prop = newProposer(r)
	n.wg.Add(2)
	go r.prop.run()
	go r.loop()
	n.log.Info("cluster: raft started", "address", advertise, "has_state", r.hasState.Load(),
		"applied", r.fsm.AppliedIndex(), "bootstrap_expect", n.cfg.BootstrapExpect, "voters", n.cfg.RaftVoters)
	return nil
}

// recoverPeers applies <raft dir>/peers.json: Raft's manual recovery, for
// a cluster that lost its quorum for good (docs/cluster.md). The file is
// renamed once applied, so it is used once.
func (r *raftNode) recoverPeers(rc *raft.Config, logs raft.LogStore) error {
	path := filepath.Join(r.dir, peersJSONFile)
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	conf, err := raft.ReadConfigJSON(path)
	if err != nil {
		return fmt.Errorf("cluster: %s: %w", path, err)
	}
	r.log.Warn("cluster: recovering the raft configuration from peers.json", "path", path, "servers", conf.Servers)
	if err := raft.RecoverCluster(rc, r.fsm, logs, r.store, r.snaps, r.trans, conf); err != nil {
		return fmt.Errorf("cluster: recovery from %s: %w", path, err)
	}
	if err := os.Rename(path, path+".applied"); err != nil {
		return fmt.Errorf("cluster: recovery applied but %s not renamed (remove it before the next start): %w", path, err)
	}
	r.hasState.Store(true)
	r.recovered.Store(true)
	return nil
}

// close stops the proposer and Raft and closes the files. Raft is shut
// down without leaving: the others see this server as failed.
func (r *raftNode) close() {
	r.closeOnce.Do(func() {
		close(r.closing)
		if r.prop != nil {
			r.prop.close()
		}
		switch {
		case r.raft != nil:
			// Closes the transport too.
			if err := r.raft.Shutdown().Error(); err != nil {
				r.log.Warn("cluster: raft shutdown", "err", err)
			}
		case r.trans != nil:
			r.trans.Close()
		case r.layer != nil:
			r.layer.Close()
		}
	})
}

// closeFiles closes the stores; after close and after the goroutines
// that use them have exited.
func (r *raftNode) closeFiles() {
	if r.store != nil {
		r.store.Close()
	}
	if r.fsm != nil {
		r.fsm.Close()
	}
}

// leave hands leadership over if this node leads. It does not remove the
// node from the configuration: a node that comes back finds its seat.
func (r *raftNode) leave(ctx context.Context) {
	if r.raft == nil || r.raft.State() != raft.Leader {
		return
	}
	done := make(chan error, 1)
	go func() { done <- r.wait(r.raft.LeadershipTransfer()) }()
	select {
	case err := <-done:
		if err != nil {
			r.log.Warn("cluster: leadership transfer failed", "err", err)
			return
		}
		r.stats.transfers.Add(1)
		_, id := r.raft.LeaderWithID()
		r.log.Info("cluster: leadership transferred", "to", id)
	case <-ctx.Done():
		r.log.Warn("cluster: leadership transfer not finished", "err", ctx.Err())
	}
}

// wait returns f's error, or ErrClosed once the node is closing: Raft may
// never answer a future that was pending when it shut down.
func (r *raftNode) wait(f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-r.closing:
		return ErrClosed
	}
}

// ServerAddr implements raft.ServerAddressProvider: a server's address is
// the one its current gossip metadata carries, so a node that restarts on
// another address is reached at once; the configuration's is the fallback.
func (r *raftNode) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if string(id) == r.n.cfg.NodeID {
		return raft.ServerAddress(r.layer.adv), nil
	}
	if a := r.n.table.raftAddrOf(string(id)); a != "" {
		return raft.ServerAddress(a), nil
	}
	r.knownMu.Lock()
	a, ok := r.known[id]
	r.knownMu.Unlock()
	if ok {
		return a, nil
	}
	return "", fmt.Errorf("no address known for %s", id)
}

// remember records the configuration's addresses for ServerAddr.
func (r *raftNode) remember(servers []raft.Server) {
	r.knownMu.Lock()
	defer r.knownMu.Unlock()
	clear(r.known)
	for _, s := range servers {
		r.known[s.ID] = s.Address
	}
}

// kickReconcile asks the reconcile loop to run now.
func (r *raftNode) kickReconcile() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// retainedSeq yields the FSM's retained messages as broker messages.
func (r *raftNode) retainedSeq() func(yield func(*broker.Message) bool) {
	return func(yield func(*broker.Message) bool) {
		err := r.fsm.Retained(func(m *clusterpb.RetainedMessage) bool {
			return yield(retainedToMessage(m))
		})
		if err != nil {
			r.log.Error("cluster: reading the retained messages of the FSM", "err", err)
		}
	}
}

// fsmNotifier hands the FSM's changes to the broker, synchronously on
// Raft's FSM goroutine: nothing is queued, nothing dropped.
type fsmNotifier struct{ n *Node }

func (f fsmNotifier) RetainedChanged(topic string, m *clusterpb.RetainedMessage) {
	srv := f.n.srv.Load()
	if srv == nil {
		return
	}
	if m == nil {
		srv.ApplyRetained(&broker.Message{Topic: topic, Retain: true})
		return
	}
	srv.ApplyRetained(retainedToMessage(m))
}

func (f fsmNotifier) NodeChanged(rec *clusterpb.NodeRecord) {
	f.n.log.Debug("cluster: node registry", "node", rec.GetNodeId(), "alive", rec.GetAlive(), "since", time.Unix(0, rec.GetSince()))
}

func (f fsmNotifier) Restored() {
	r := f.n.raft
	if srv := f.n.srv.Load(); srv != nil && r != nil {
		srv.ResetRetained(r.retainedSeq())
	}
}

// retainedToMessage converts a stored retained message for the broker.
func retainedToMessage(m *clusterpb.RetainedMessage) *broker.Message {
	return &broker.Message{
		Topic:      m.GetTopic(),
		Payload:    m.GetPayload(),
		QoS:        byte(min(m.GetQos(), 2)),
		Retain:     true,
		Expiry:     m.GetExpiresAt(),
		Props:      propsFromPB(m.GetProperties()),
		Origin:     m.GetOrigin(),
		OriginNode: m.GetOriginNode(),
	}
}

// hclogFor adapts a slog logger for hashicorp/raft: its lines go through
// slogWriter at the level they carry.
func hclogFor(l *slog.Logger) hclog.Logger {
	level := hclog.Error
	ctx := context.Background()
	switch {
	case l.Enabled(ctx, slog.LevelDebug):
		level = hclog.Debug
	case l.Enabled(ctx, slog.LevelInfo):
		level = hclog.Info
	case l.Enabled(ctx, slog.LevelWarn):
		level = hclog.Warn
	}
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: level, Output: slogWriter{l}, DisableTime: true})
}

// tcpAddr is an advertised address as a net.Addr.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// streamLayer is Raft's network: TCP, with TLS when the cluster has it, on
// the node's Raft port. It can be cut off (Isolate) for tests.
type streamLayer struct {
	lis                  net.Listener
	adv                  tcpAddr
	serverTLS, clientTLS *tls.Config
	blocked              atomic.Bool

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

var errIsolated = errors.New("cluster: isolated (fault injection)")

// Accept implements net.Listener.
func (s *streamLayer) Accept() (net.Conn, error) {
	for {
		c, err := s.lis.Accept()
		if err != nil {
			return nil, err
		}
		if s.blocked.Load() {
			c.Close()
			continue
		}
		if s.serverTLS != nil {
			c = tls.Server(c, s.serverTLS)
		}
		return s.track(c), nil
	}
}

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.blocked.Load() {
		return nil, errIsolated
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(addr))
	if err != nil {
		return nil, err
	}
	if s.clientTLS != nil {
		cfg := s.clientTLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(string(addr))
		}
		tc := tls.Client(c, cfg)
		tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("raft TLS handshake with %s: %w", addr, err)
		}
		tc.SetDeadline(time.Time{})
		c = tc
	}
	return s.track(c), nil
}

func (s *streamLayer) Close() error   { return s.lis.Close() }
func (s *streamLayer) Addr() net.Addr { return s.adv }

// block cuts the node off Raft (or restores it): open connections are
// closed, new ones refused both ways.
func (s *streamLayer) block(on bool) {
	s.blocked.Store(on)
	if !on {
		return
	}
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (s *streamLayer) track(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, s: s}
	s.mu.Lock()
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	return tc
}

// trackedConn leaves the stream layer's set when closed.
type trackedConn struct {
	net.Conn
	s    *streamLayer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// raftMember is what the reconcile loop needs of a gossip member.
type raftMember struct {
	nodeID   string
	startID  uint64
	addr     string
	hasState bool
	expect   uint32
}

// raftAddrOf returns the Raft address the latest incarnation of nodeID
// advertises, "" if none.
func (t *routeTable) raftAddrOf(nodeID string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *member
	for _, mb := range t.members {
		if mb.nodeID == nodeID && (best == nil || mb.startAt > best.startAt) {
			best = mb
		}
	}
	if best == nil {
		return ""
	}
	return best.raftAddr
}

// raftMembers returns the members with a Raft address (the latest
// incarnation of each node), sorted by node id.
func (t *routeTable) raftMembers() []raftMember {
	t.mu.Lock()
	latest := make(map[string]*member, len(t.members))
	for _, mb := range t.members {
		if mb.raftAddr == "" {
			continue
		}
		if cur := latest[mb.nodeID]; cur == nil || mb.startAt > cur.startAt {
			latest[mb.nodeID] = mb
		}
	}
	out := make([]raftMember, 0, len(latest))
	for _, mb := range latest {
		out = append(out, raftMember{nodeID: mb.nodeID, startID: mb.startID, addr: mb.raftAddr, hasState: mb.raftState, expect: mb.bootstrapExpect})
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b raftMember) int {
		switch {
		case a.nodeID < b.nodeID:
			return -1
		case a.nodeID > b.nodeID:
			return 1
		}
		return 0
	})
	return out
}
