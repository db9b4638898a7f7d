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

	// Timings tunes gossip and synchronisation; zero fields take
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
	for key, addr := range map[string]string{"cluster.bind": c.Bind, "cluster.grpc_address": c.GRPCAddress} {
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
