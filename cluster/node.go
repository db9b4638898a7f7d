package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	"github.com/mqttio/mqttio/broker"
	clusterpb "github.com/mqttio/mqttio/proto"
)

// Node is this process's member of the cluster. It implements
// broker.Cluster: the broker announces its routes through it and hands it
// every publish, which it forwards to the nodes with matching routes; it
// delivers what the other nodes forward to the broker's subscribers.
//
// Wiring (see New): create the Node, pass it as broker.Options.Cluster,
// create the Server, then Start the Node with it.
type Node struct {
	cfg     Config
	log     *slog.Logger
	name    string // memberlist name: "<node id>#<start id>"
	startID uint64 // random per process start: the incarnation
	startAt int64  // Unix nanoseconds of New: orders incarnations
	epochs  atomic.Uint64
	seed    maphash.Seed

	serverCreds, clientCreds credentials.TransportCredentials
	gossipKey                []byte

	srv           atomic.Pointer[broker.Server]
	ml            *memberlist.Memberlist
	mlReady       atomic.Pointer[memberlist.Memberlist] // ml, for memberlist's own goroutines
	bcast         *memberlist.TransmitLimitedQueue
	meta          atomic.Pointer[[]byte]
	grpcSrv       *grpc.Server
	grpcLis       net.Listener
	grpcAdvertise string
	gossipAddr    string    // host:port the other nodes reach memberlist at
	raft          *raftNode // nil without Raft (no RaftDir)
	raftAdvertise string

	metaMu     sync.Mutex // orders metadata updates
	metaRoutes [2]uint64  // route digest (version, hash) last published

	local  localRoutes
	table  *routeTable
	npeers atomic.Int32
	recv   receiver
	events *eventQueue
	stats  counters
	faults faults

	started   atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
}

// New validates cfg and prepares a node; it binds nothing until Start.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	serverCreds, clientCreds, err := cfg.TLS.credentials()
	if err != nil {
		return nil, err
	}
	var key []byte
	if cfg.GossipKey != "" {
		key, _ = gossipKey(cfg.GossipKey)
	}
	var b [8]byte
	for binary.BigEndian.Uint64(b[:]) == 0 {
		rand.Read(b[:])
	}
	n := &Node{
		cfg:         cfg,
		startID:     binary.BigEndian.Uint64(b[:]),
		startAt:     time.Now().UnixNano(),
		seed:        maphash.MakeSeed(),
		serverCreds: serverCreds,
		clientCreds: clientCreds,
		gossipKey:   key,
		table:       newRouteTable(),
		stop:        make(chan struct{}),
	}
	n.name = cfg.NodeID + "#" + strconv.FormatUint(n.startID, 16)
	n.log = cfg.Logger.With("node", cfg.NodeID)
	n.local.set = make(map[Route]struct{})
	n.recv.states = make(map[recvKey]*recvState)
	n.events = newEventQueue(func() { n.stats.deltasDropped.Add(1) })
	n.bcast = &memberlist.TransmitLimitedQueue{RetransmitMult: cfg.Timings.RetransmitMult, NumNodes: n.numMembers}
	// The addresses are not known yet: count what they may take.
	meta := n.encodeMeta(0, 0)
	budget := addrBudget(cfg.GRPCAdvertise) + 8
	if cfg.RaftDir != "" {
		budget += addrBudget(cfg.RaftAdvertise) + 8
	}
	if len(meta)+budget > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: node metadata would exceed %d bytes (node id, version and advertised addresses too long)", memberlist.MetaMaxSize)
	}
	n.meta.Store(&meta)
	return n, nil
}

// addrBudget is the room an advertised address takes in the metadata: its
// length when configured, else the longest "[IPv6]:port".
func addrBudget(configured string) int {
	if configured != "" {
		return len(configured)
	}
	return len("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")
}

// numMembers sizes the gossip retransmissions; memberlist calls it, maybe
// before Start has stored ml.
func (n *Node) numMembers() int {
	if ml := n.mlReady.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// NodeID returns the node's id.
func (n *Node) NodeID() string { return n.cfg.NodeID }

// Start binds the gRPC and gossip ports, announces the routes srv already
// has (restored sessions) and starts joining the seeds in the background.
// srv must have been created with this node as Options.Cluster.
func (n *Node) Start(srv *broker.Server) error {
	if srv == nil {
		return errors.New("cluster: Start: nil server")
	}
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("cluster: Start called twice")
	}
	// Gossip addresses.
	bindHost, bindPort, err := splitHostPort(n.cfg.Bind, 7946)
	if err != nil {
		return fmt.Errorf("cluster: cluster.bind: %v", err)
	}
	advHost, advPort := "", 0
	if a := n.cfg.Advertise; a != "" {
		if advHost, advPort, err = splitHostPort(a, bindPort); err != nil {
			return fmt.Errorf("cluster: cluster.advertise: %v", err)
		}
		ip, err := resolveIP(advHost)
		if err != nil {
			return fmt.Errorf("cluster: cluster.advertise: %v", err)
		}
		advHost = ip.String()
	}

	// gRPC first: peers that learn of this node may dial it at once.
	lis, err := net.Listen("tcp", n.cfg.GRPCAddress)
	if err != nil {
		return fmt.Errorf("cluster: cluster.grpc_address: %v", err)
	}
	n.grpcLis = lis
	n.grpcSrv = grpc.NewServer(
		grpc.Creds(n.serverCreds),
		grpc.MaxRecvMsgSize(maxGRPCMessage),
		grpc.InitialWindowSize(grpcWindow),
		grpc.InitialConnWindowSize(4*grpcWindow),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	clusterpb.RegisterClusterServer(n.grpcSrv, &service{n: n})
	n.srv.Store(srv)
	if n.cfg.RaftDir != "" {
		// The replicated state replaces the retained messages the
		// server restored from its store, before any client connects.
		r, err := n.openRaft(srv)
		if err != nil {
			n.closed.Store(true)
			n.grpcSrv.Stop()
			n.wg.Wait()
			return err
		}
		n.raft = r
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.grpcSrv.Serve(lis); err != nil && !n.closed.Load() {
			n.log.Error("cluster: gRPC server stopped", "err", err)
		}
	}()

	// The routes the server has now; later changes arrive as RouteAdded
	// and RouteRemoved, and every one is checked against the server.
	srv.Routes(n.routeChanged)

	mc := n.memberlistConfig(bindHost, bindPort, advHost, advPort, n.gossipKey)
	n.grpcAdvertise = n.cfg.GRPCAdvertise
	if n.grpcAdvertise == "" {
		// Known before memberlist chooses its advertise address only when
		// an address was given; else fixed up right after Create.
		n.grpcAdvertise = addressFor(n.cfg.GRPCAddress, n.grpcLis, advHost)
	}
	if n.raft != nil {
		n.raftAdvertise = n.cfg.RaftAdvertise
		if n.raftAdvertise == "" {
			n.raftAdvertise = addressFor(n.cfg.RaftAddress, n.raft.layer.lis, advHost)
		}
	}
	v, h := n.local.digest()
	n.setMeta(v, h, false)
	ml, err := memberlist.Create(mc)
	if err != nil {
		n.closed.Store(true)
		if n.raft != nil {
			n.raft.close()
			n.raft.closeFiles()
		}
		n.grpcSrv.Stop()
		n.wg.Wait()
		return fmt.Errorf("cluster: gossip: %v", err)
	}
	n.ml = ml
	n.mlReady.Store(ml)
	self := *ml.LocalNode() // copied at once: memberlist updates it in place
	n.gossipAddr = self.Address()
	if advHost == "" && (n.cfg.GRPCAdvertise == "" || (n.raft != nil && n.cfg.RaftAdvertise == "")) {
		if n.cfg.GRPCAdvertise == "" {
			n.grpcAdvertise = addressFor(n.cfg.GRPCAddress, n.grpcLis, self.Addr.String())
		}
		if n.raft != nil && n.cfg.RaftAdvertise == "" {
			n.raftAdvertise = addressFor(n.cfg.RaftAddress, n.raft.layer.lis, self.Addr.String())
		}
		v, h := n.local.digest()
		n.setMeta(v, h, true)
	}
	if b := *n.meta.Load(); len(b) > memberlist.MetaMaxSize {
		n.Close()
		return fmt.Errorf("cluster: node metadata is %d bytes, more than memberlist's %d (advertised addresses too long)", len(b), memberlist.MetaMaxSize)
	}
	if n.raft != nil {
		if err := n.raft.startRaft(n.raftAdvertise); err != nil {
			n.Close()
			return err
		}
	}
	n.wg.Add(3)
	go n.controlLoop()
	go n.syncLoop()
	go n.joinLoop()
	n.log.Info("cluster: node started", "member", n.name, "gossip", n.gossipAddr,
		"grpc", n.grpcAdvertise, "tls", n.cfg.TLS.enabled(), "mtls", n.cfg.TLS.VerifyClients,
		"gossip_encryption", n.gossipKey != nil, "seeds", n.cfg.Join, "raft", n.raftAdvertise)
	return nil
}

// addressFor returns the address to advertise for a listener bound at
// bind: its host (the gossip advertise host when bound to every
// interface) and the bound port.
func addressFor(bind string, lis net.Listener, advHost string) string {
	host, _, _ := net.SplitHostPort(bind)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = advHost
	}
	return net.JoinHostPort(host, port)
}

func splitHostPort(addr string, defPort int) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		// "host" alone: the default port.
		if h := addr; net.ParseIP(h) != nil || !containsColon(h) {
			return h, defPort, nil
		}
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

func resolveIP(host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s: no address", host)
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip, nil
		}
	}
	return ips[0], nil
}

// Leave is the graceful exit: it waits (until ctx is done) for the
// forwarding queues to drain and their QoS 1/2 messages to be
// acknowledged, tells the cluster this node leaves, and closes the node.
// Call it after the broker's Shutdown, so that what the last clients
// published still goes out.
func (n *Node) Leave(ctx context.Context) error {
	if !n.started.Load() || n.closed.Load() {
		return n.Close()
	}
	n.waitDrained(ctx)
	if n.raft != nil {
		// Leaving is not removal: hand leadership over, keep the seat.
		n.raft.leave(ctx)
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), 100*time.Millisecond)
	}
	if err := n.ml.Leave(timeout); err != nil {
		n.log.Warn("cluster: leave not broadcast", "err", err)
	}
	return n.Close()
}

// waitDrained polls until the forwarding queues are drained or ctx is done.
func (n *Node) waitDrained(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !n.drained() {
		select {
		case <-ctx.Done():
			n.log.Warn("cluster: leaving with forwarding queues not drained", "err", ctx.Err())
			return
		case <-tick.C:
		}
	}
}

// drained reports whether every forwarding queue is empty and acknowledged.
func (n *Node) drained() bool {
	for _, mb := range n.table.list() {
		for _, s := range mb.peer.streams {
			s.mu.Lock()
			busy := s.bytes > 0
			s.mu.Unlock()
			if busy {
				return false
			}
		}
	}
	return true
}

// Close stops the node at once, without telling the cluster (the others
// detect its failure). Forwarding queues are dropped.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		close(n.stop)
		if n.raft != nil {
			n.raft.close()
		}
		if n.ml != nil {
			if err := n.ml.Shutdown(); err != nil {
				n.log.Debug("cluster: memberlist shutdown", "err", err)
			}
		}
		if n.grpcSrv != nil {
			n.grpcSrv.Stop()
		}
		for _, mb := range n.table.list() {
			if n.table.remove(mb.name) != nil {
				n.npeers.Add(-1)
				mb.peer.close(false)
			}
		}
		n.wg.Wait()
		if n.raft != nil {
			n.raft.closeFiles()
		}
		n.log.Info("cluster: node stopped")
	})
	return nil
}

// RouteAdded implements broker.Cluster.
func (n *Node) RouteAdded(filter, group string) { n.routeChanged(filter, group) }

// RouteRemoved implements broker.Cluster.
func (n *Node) RouteRemoved(filter, group string) { n.routeChanged(filter, group) }

// routeChanged brings the local table in line with the server for one
// route and gossips the change, if any. Asking the server rather than
// trusting the call's direction makes racing announcements harmless: the
// last one processed sees the final state.
func (n *Node) routeChanged(filter, group string) {
	srv := n.srv.Load()
	if srv == nil {
		return // Start walks the server's routes
	}
	l := &n.local
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Route{filter, group}
	present := srv.HasRoute(filter, group)
	if _, had := l.set[r]; had == present {
		return
	}
	if present {
		l.set[r] = struct{}{}
	} else {
		delete(l.set, r)
	}
	l.version++
	l.hash ^= routeHash(r)
	n.broadcastDelta(&clusterpb.RouteDelta{Member: n.name, Version: l.version, Add: present, Filter: filter, Group: group})
}

// broadcastDelta queues a delta for gossip; l.mu is held, so deltas enter
// the queue in version order.
func (n *Node) broadcastDelta(d *clusterpb.RouteDelta) {
	if n.faults.dropDeltas.Load() {
		return
	}
	b := make([]byte, 1, 64+len(d.Filter)+len(d.Group)+len(d.Member))
	b[0] = msgRouteDelta
	b, err := proto.MarshalOptions{}.MarshalAppend(b, d)
	if err != nil || len(b) > maxGossipMsg {
		n.stats.deltasTooBig.Add(1)
		return
	}
	n.stats.deltasOut.Add(1)
	n.bcast.QueueBroadcast(deltaBroadcast(b))
	if n.bcast.NumQueued() > maxQueuedBroadcasts {
		n.bcast.Prune(maxQueuedBroadcasts)
	}
}

// Member describes a cluster member as this node sees it.
type Member struct {
	NodeID      string
	StartID     uint64
	Version     string
	GRPCAddress string
	Routes      int
	Self        bool
}

// Members returns this node and the members it forwards to.
func (n *Node) Members() []Member {
	v := n.local.snapshotLen()
	out := []Member{{NodeID: n.cfg.NodeID, StartID: n.startID, Version: n.cfg.Version, GRPCAddress: n.grpcAdvertise, Routes: v, Self: true}}
	n.table.mu.Lock()
	defer n.table.mu.Unlock()
	for _, mb := range n.table.members {
		out = append(out, Member{NodeID: mb.nodeID, StartID: mb.startID, Version: mb.version, GRPCAddress: mb.grpcAddr, Routes: len(mb.routes)})
	}
	return out
}

func (l *localRoutes) snapshotLen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.set)
}

// LocalRoutes returns the routes this node announces.
func (n *Node) LocalRoutes() []Route {
	_, rs := n.local.snapshot()
	return rs
}

// RemoteRoutes returns the routes this node holds for the member with the
// given node id, nil if it knows none.
func (n *Node) RemoteRoutes(nodeID string) []Route {
	for _, mb := range n.table.list() {
		if mb.nodeID == nodeID {
			return n.table.routesOf(mb)
		}
	}
	return nil
}

// GossipAddress returns the address other nodes join this one at
// (host:port); "" before Start.
func (n *Node) GossipAddress() string { return n.gossipAddr }

// GRPCAddress returns the advertised gRPC address; "" before Start.
func (n *Node) GRPCAddress() string { return n.grpcAdvertise }
