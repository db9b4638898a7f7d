package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/cluster"
)

// ClusterConfig is cluster.*: the node joins a cluster when cluster.bind is
// set, and runs alone otherwise.
type ClusterConfig struct {
	Bind              string        `cfg:"bind"`
	Advertise         string        `cfg:"advertise"`
	Join              []string      `cfg:"join"`
	GRPCAddress       string        `cfg:"grpc_address"`
	GRPCAdvertise     string        `cfg:"grpc_advertise"`
	RaftAddress       string        `cfg:"raft_address"`
	RaftAdvertise     string        `cfg:"raft_advertise"`
	BootstrapExpect   int           `cfg:"bootstrap_expect"`
	RaftVoters        int           `cfg:"raft_voters"`
	DeadServerTimeout time.Duration `cfg:"dead_server_timeout"`
	GossipKey         string        `cfg:"gossip_key" secret:"true"`
	TLS               ClusterTLS    `cfg:"tls"`
}

// ClusterTLS secures the cluster's gRPC port (mTLS with verify_clients).
type ClusterTLS struct {
	CertFile      string `cfg:"cert_file"`
	KeyFile       string `cfg:"key_file"`
	CAFile        string `cfg:"ca_file"`
	VerifyClients bool   `cfg:"verify_clients"`
	ServerName    string `cfg:"server_name"`
}

// Enabled reports whether the node takes part in a cluster.
func (c ClusterConfig) Enabled() bool { return c.Bind != "" }

func defaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		GRPCAddress:       "0.0.0.0:7947",
		RaftAddress:       "0.0.0.0:7948",
		RaftVoters:        3,
		DeadServerTimeout: time.Minute,
		Join:              []string{},
	}
}

// validateCluster checks cluster.* (add reports one key's error).
func validateCluster(c ClusterConfig, address func(key, v string), add func(key, format string, args ...any)) {
	address("cluster.bind", c.Bind)
	address("cluster.grpc_address", c.GRPCAddress)
	address("cluster.raft_address", c.RaftAddress)
	if !c.Enabled() {
		return
	}
	if c.GRPCAddress == "" {
		add("cluster.grpc_address", "must be set when cluster.bind is")
	}
	if c.RaftAddress == "" {
		add("cluster.raft_address", "must be set when cluster.bind is")
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > 7 {
		add("cluster.bootstrap_expect", "must be between 0 and 7 (got %d)", c.BootstrapExpect)
	}
	if c.RaftVoters != 3 && c.RaftVoters != 5 && c.RaftVoters != 1 {
		add("cluster.raft_voters", "must be 1, 3 or 5 (got %d)", c.RaftVoters)
	}
	if c.DeadServerTimeout < 10*time.Second {
		add("cluster.dead_server_timeout", "must be at least 10s (got %s)", c.DeadServerTimeout)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("cluster.tls.cert_file", "cert_file and key_file go together")
	}
	if c.TLS.VerifyClients && c.TLS.CAFile == "" {
		add("cluster.tls.verify_clients", "needs cluster.tls.ca_file")
	}
}

// newClusterNode builds the cluster node of cfg (not started yet: the
// broker it serves must exist first).
func newClusterNode(cfg Config, logger *slog.Logger) (*cluster.Node, error) {
	c := cfg.Cluster
	cn, err := cluster.New(cluster.Config{
		NodeID:            cfg.NodeID,
		Version:           version,
		Logger:            logger,
		Bind:              c.Bind,
		Advertise:         c.Advertise,
		Join:              c.Join,
		GRPCAddress:       c.GRPCAddress,
		GRPCAdvertise:     c.GRPCAdvertise,
		GossipKey:         c.GossipKey,
		RaftDir:           filepath.Join(cfg.DataDir, "raft"),
		RaftAddress:       c.RaftAddress,
		RaftAdvertise:     c.RaftAdvertise,
		BootstrapExpect:   c.BootstrapExpect,
		RaftVoters:        c.RaftVoters,
		DeadServerTimeout: c.DeadServerTimeout,
		TLS: cluster.TLSConfig{
			CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, CAFile: c.TLS.CAFile,
			VerifyClients: c.TLS.VerifyClients, ServerName: c.TLS.ServerName,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return cn, nil
}

// startCluster starts cn for srv and adds its readiness condition: a node
// with seeds is ready once it sees another member.
func (n *node) startCluster(cn *cluster.Node, srv *broker.Server) error {
	if err := cn.Start(srv); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.cluster = cn
	n.log.Info("cluster started", "gossip", cn.GossipAddress(), "grpc", cn.GRPCAddress(), "join", n.cfg.Cluster.Join)
	return nil
}

// clusterReady is the /readyz condition of a clustered node.
func (n *node) clusterReady() error {
	if n.cluster == nil {
		return nil
	}
	if len(n.cfg.Cluster.Join) > 0 && n.cluster.Stats().Members == 0 {
		return errors.New("not joined: no other cluster member seen yet")
	}
	return nil
}

// leaveCluster leaves gracefully (forwarding queues drained, leadership
// handed over) within ctx.
func (n *node) leaveCluster(ctx context.Context) {
	if n.cluster == nil {
		return
	}
	if err := n.cluster.Leave(ctx); err != nil {
		n.log.Warn("cluster leave incomplete", "err", err)
	}
}
