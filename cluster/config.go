package cluster

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Node. Zero fields take the defaults documented on
// them; cmd/ fills it from the cluster.* configuration keys.
type Config struct {
	// NodeID is this node's stable name (node_id). Required; at most 128
	// bytes.
	NodeID string
	// Version is the software version, advertised in the node metadata.
	Version string

	// Bind is the gossip address, UDP and TCP (cluster.bind). Default
	// "0.0.0.0:7946"; port 0 picks a free one.
	Bind string
	// Advertise is the gossip address the other nodes use to reach this
	// one (cluster.advertise), "host:port" or "host" (port of Bind).
	// Default: the Bind address, or a private address of this host when
	// Bind is unspecified (0.0.0.0).
	Advertise string
	// Join lists seed nodes' gossip addresses (cluster.join). They are
	// retried until one answers, so nodes may start in any order.
	Join []string

	// GRPCAddress is where the node serves forwarded publishes and route
	// tables (cluster.grpc_address). Default "0.0.0.0:7947"; port 0 picks
	// a free one.
	GRPCAddress string
	// GRPCAdvertise is the gRPC address other nodes dial (optional). By
	// default the host of the gossip advertise address with the port
	// GRPCAddress is bound to. It travels in the node metadata.
	GRPCAdvertise string

	// GossipKey enables gossip encryption (cluster.gossip_key): the base64
	// of a 16, 24 or 32 byte AES key, the same on every node.
	GossipKey string

	// TLS secures the gRPC port. Off when TLS.CertFile is empty.
	TLS TLSConfig

	// Streams is the number of forwarding streams per peer (default 4). A
	// publisher's messages always take the same one.
	Streams int
	// QueueBytes is the high-water mark of one stream's queue (queued plus
	// sent but not acknowledged), default 4 MiB. Above it publishers are
	// stalled for at most MaxStall per congestion, then QoS 0 messages
	// are dropped and counted.
	QueueBytes int
	// MaxQueueBytes bounds a stream's queue for QoS 1/2 messages, default
	// 8 × QueueBytes; beyond it they are dropped, counted and logged.
	MaxQueueBytes int
	// MaxStall is how long publishers may be held back while a stream is
	// above QueueBytes (default 100ms).
	MaxStall time.Duration
	// MaxBatchBytes caps one forwarded batch (default 256 KiB; a single
	// bigger message travels alone).
	MaxBatchBytes int

	// RaftDir holds this node's Raft state: raft.db (log and stable
	// store), snapshots/ and fsm.db (the replicated state). cmd/ sets it
	// to <data_dir>/raft. Empty: no Raft, and retained messages stay on
	// the node they were published on.
	RaftDir string
	// RaftAddress is where the Raft transport listens, TCP
	// (cluster.raft_address). Default "0.0.0.0:7948"; port 0 picks a free
	// one.
	RaftAddress string
	// RaftAdvertise is the Raft address other nodes dial
	// (cluster.raft_advertise, optional): by default the host of the
	// gossip advertise address with the port RaftAddress is bound to. It
	// travels in the node metadata.
	RaftAdvertise string
	// BootstrapExpect is the number of servers that found a new cluster
	// together (cluster.bootstrap_expect): once that many nodes without
	// Raft state see each other in gossip, all of them bootstrap with the
	// same server list. 0: this node never bootstraps; it waits for a
	// leader to add it. A node with Raft state never bootstraps again.
	BootstrapExpect int
	// RaftVoters is how many voters the leader keeps (cluster.raft_voters,
	// 3 or 5; default 3, at least BootstrapExpect). Nodes beyond it join
	// as non-voters, and are promoted when a voter is removed.
	RaftVoters int
	// DeadServerTimeout is how long a server may be absent from gossip
	// before the leader removes it from the Raft configuration
	// (cluster.dead_server_timeout, default 1m), never when that would
	// leave fewer live voters than a quorum of the rest. Leaving is not
	// removal: a node stopped with Leave counts as absent, like a dead
	// one.
	DeadServerTimeout time.Duration
	// ProposeTimeout bounds a proposal (a retained message change) from
	// its submission to its commit, retries on "not leader" included
	// (cluster.propose_timeout, default 5s). A QoS 1/2 retained publish
	// not committed in time is not acknowledged: the publisher is
	// disconnected (see ReplicateRetained).
	ProposeTimeout time.Duration
	// SnapshotThreshold, SnapshotInterval and TrailingLogs tune Raft's
	// snapshots (cluster.raft_snapshot_threshold, default 8192 entries;
	// cluster.raft_snapshot_interval, default 2m; cluster.raft_trailing_logs,
	// default 10240 entries kept after a snapshot).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	// Timings tunes gossip, Raft and synchronisation; zero fields take
	// LANTimings.
	Timings Timings

	// Logger receives the node's logs and memberlist's; nil: slog.Default.
	Logger *slog.Logger
}

// TLSConfig names the files that secure the gRPC port. Every node serves
// with its certificate and dials its peers with it too, so one certificate
// per node (with both server and client usage) is enough for mutual TLS.
type TLSConfig struct {
	CertFile string // PEM certificate chain (cluster.tls.cert_file)
	KeyFile  string // PEM private key (cluster.tls.key_file)
	// CAFile is the PEM bundle peer certificates are verified against
	// (cluster.tls.ca_file); "" uses the system roots.
	CAFile string
	// VerifyClients requires peers to present a certificate signed by
	// CAFile (mTLS; cluster.tls.verify_clients).
	VerifyClients bool
	// ServerName is the name peer certificates must carry
	// (cluster.tls.server_name); "" checks the host of the peer's gRPC
	// address.
	ServerName string
}

// Timings are the membership and synchronisation periods.
type Timings struct {
	ProbeInterval    time.Duration // failure detection probe period
	ProbeTimeout     time.Duration // wait for a probe's ack
	GossipInterval   time.Duration // gossip (route deltas, state) period
	PushPullInterval time.Duration // full memberlist state exchange period
	GossipToTheDead  time.Duration // keep gossiping to a dead node this long
	TCPTimeout       time.Duration // memberlist TCP operations
	SuspicionMult    int           // suspicion timeout multiplier
	RetransmitMult   int           // broadcasts are sent RetransmitMult × log(N+1) times
	// SyncInterval is how often a node publishes its route digest and
	// compares the peers' digests with the tables it holds.
	SyncInterval time.Duration
	// JoinRetry is the first delay between join attempts; it doubles up
	// to MaxJoinRetry while no seed answers.
	JoinRetry    time.Duration
	MaxJoinRetry time.Duration

	// Raft timings (hashicorp/raft's Config fields of the same names).
	RaftHeartbeatTimeout   time.Duration
	RaftElectionTimeout    time.Duration
	RaftLeaderLeaseTimeout time.Duration
	RaftCommitTimeout      time.Duration
	// ReconcileInterval is how often the leader compares the Raft
	// configuration and the node registry with gossip (also on every
	// membership change), and how often a node without state checks
	// whether it can bootstrap.
	ReconcileInterval time.Duration
}

// LANTimings are the defaults: memberlist's LAN profile.
func LANTimings() Timings {
	return Timings{
		ProbeInterval:    time.Second,
		ProbeTimeout:     500 * time.Millisecond,
		GossipInterval:   200 * time.Millisecond,
		PushPullInterval: 30 * time.Second,
		GossipToTheDead:  30 * time.Second,
		TCPTimeout:       10 * time.Second,
		SuspicionMult:    4,
		RetransmitMult:   4,
		SyncInterval:     time.Second,
		JoinRetry:        time.Second,
		MaxJoinRetry:     30 * time.Second,

		RaftHeartbeatTimeout:   time.Second,
		RaftElectionTimeout:    time.Second,
		RaftLeaderLeaseTimeout: 500 * time.Millisecond,
		RaftCommitTimeout:      50 * time.Millisecond,
		ReconcileInterval:      time.Second,
	}
}

// FastTimings suit nodes on one host (tests): failures are detected within
// about a second.
func FastTimings() Timings {
	return Timings{
		ProbeInterval:    100 * time.Millisecond,
		ProbeTimeout:     50 * time.Millisecond,
		GossipInterval:   20 * time.Millisecond,
		PushPullInterval: time.Second,
		GossipToTheDead:  2 * time.Second,
		TCPTimeout:       time.Second,
		SuspicionMult:    2,
		RetransmitMult:   3,
		SyncInterval:     100 * time.Millisecond,
		JoinRetry:        25 * time.Millisecond,
		MaxJoinRetry:     200 * time.Millisecond,

		RaftHeartbeatTimeout:   300 * time.Millisecond,
		RaftElectionTimeout:    300 * time.Millisecond,
		RaftLeaderLeaseTimeout: 200 * time.Millisecond,
		RaftCommitTimeout:      5 * time.Millisecond,
		ReconcileInterval:      50 * time.Millisecond,
	}
}

// Limits of the metadata fields: the encoded metadata must fit memberlist's
// 512 bytes.
const (
	maxNodeIDLen  = 128
	maxVersionLen = 64
	maxAddrLen    = 255
)

func (c Config) withDefaults() Config {
	if c.Bind == "" {
		c.Bind = "0.0.0.0:7946"
	}
	if c.GRPCAddress == "" {
		c.GRPCAddress = "0.0.0.0:7947"
	}
	if c.Streams <= 0 {
		c.Streams = 4
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 4 << 20
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = 8 * c.QueueBytes
	}
	c.MaxQueueBytes = max(c.MaxQueueBytes, c.QueueBytes)
	if c.MaxStall <= 0 {
		c.MaxStall = 100 * time.Millisecond
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 256 << 10
	}
	if c.RaftAddress == "" {
		c.RaftAddress = "0.0.0.0:7948"
	}
	if c.RaftVoters <= 0 {
		c.RaftVoters = max(3, c.BootstrapExpect)
	}
	if c.DeadServerTimeout <= 0 {
		c.DeadServerTimeout = time.Minute
	}
	if c.ProposeTimeout <= 0 {
		c.ProposeTimeout = 5 * time.Second
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = 2 * time.Minute
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	d := LANTimings()
	t := &c.Timings
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&t.ProbeInterval, d.ProbeInterval}, {&t.ProbeTimeout, d.ProbeTimeout},
		{&t.GossipInterval, d.GossipInterval}, {&t.PushPullInterval, d.PushPullInterval},
		{&t.GossipToTheDead, d.GossipToTheDead}, {&t.TCPTimeout, d.TCPTimeout},
		{&t.SyncInterval, d.SyncInterval}, {&t.JoinRetry, d.JoinRetry},
		{&t.MaxJoinRetry, d.MaxJoinRetry},
		{&t.RaftHeartbeatTimeout, d.RaftHeartbeatTimeout}, {&t.RaftElectionTimeout, d.RaftElectionTimeout},
		{&t.RaftLeaderLeaseTimeout, d.RaftLeaderLeaseTimeout}, {&t.RaftCommitTimeout, d.RaftCommitTimeout},
		{&t.ReconcileInterval, d.ReconcileInterval},
	} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	if t.SuspicionMult <= 0 {
		t.SuspicionMult = d.SuspicionMult
	}
	if t.RetransmitMult <= 0 {
		t.RetransmitMult = d.RetransmitMult
	}
	t.MaxJoinRetry = max(t.MaxJoinRetry, t.JoinRetry)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate checks what New can check without touching the network.
func (c Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("cluster: %s: "+format, append([]any{key}, args...)...))
	}
	switch {
	case c.NodeID == "":
		bad("node_id", "must be set")
	case len(c.NodeID) > maxNodeIDLen:
		bad("node_id", "longer than %d bytes", maxNodeIDLen)
	case strings.ContainsAny(c.NodeID, " \t\r\n"):
		bad("node_id", "must not contain white space")
	}
	if len(c.Version) > maxVersionLen {
		bad("version", "longer than %d bytes", maxVersionLen)
	}
	for key, addr := range map[string]string{"cluster.bind": c.Bind, "cluster.grpc_address": c.GRPCAddress, "cluster.raft_address": c.RaftAddress} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%v", err)
		}
	}
	if c.GRPCAdvertise != "" {
		if _, _, err := net.SplitHostPort(c.GRPCAdvertise); err != nil {
			bad("cluster.grpc_advertise", "%v", err)
		} else if len(c.GRPCAdvertise) > maxAddrLen {
			bad("cluster.grpc_advertise", "longer than %d bytes", maxAddrLen)
		}
	}
	if c.RaftAdvertise != "" {
		if _, _, err := net.SplitHostPort(c.RaftAdvertise); err != nil {
			bad("cluster.raft_advertise", "%v", err)
		} else if len(c.RaftAdvertise) > maxAddrLen {
			bad("cluster.raft_advertise", "longer than %d bytes", maxAddrLen)
		}
	}
	if c.BootstrapExpect < 0 {
		bad("cluster.bootstrap_expect", "must not be negative")
	}
	if c.RaftVoters < c.BootstrapExpect {
		bad("cluster.raft_voters", "%d is less than bootstrap_expect (%d): every founding server is a voter", c.RaftVoters, c.BootstrapExpect)
	}
	if c.RaftDir == "" && c.BootstrapExpect > 0 {
		bad("cluster.bootstrap_expect", "set without a Raft directory")
	}
	for _, j := range c.Join {
		if strings.TrimSpace(j) == "" {
			bad("cluster.join", "empty address")
		}
	}
	if c.GossipKey != "" {
		if _, err := gossipKey(c.GossipKey); err != nil {
			bad("cluster.gossip_key", "%v", err)
		}
	}
	if err := c.TLS.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// gossipKey decodes the base64 gossip key.
func gossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not base64: %v", err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, err
	}
	return k, nil
}
