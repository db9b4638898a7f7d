// Package clustertest runs clusters of mqttio nodes inside one test
// process: each node is a broker.Server with its own MQTT listener and a
// cluster.Node with real memberlist gossip and real gRPC, all on loopback
// ephemeral ports, with FastTimings. Nodes can be killed (no goodbye: the
// others detect the failure), stopped gracefully and restarted under the
// same node id. Tests wait with Eventually (polling), never with sleeps.
//
// With Options.Raft every node also runs Raft, with its state in a
// directory of its own that survives restarts (Wipe deletes it).
package clustertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/cluster"
)

// Options shape every node of a Cluster.
type Options struct {
	// Cluster adjusts each node's cluster configuration after the
	// harness's defaults (loopback ports, FastTimings, the live nodes as
	// seeds).
	Cluster func(*cluster.Config)
	// Broker adjusts each node's broker options.
	Broker func(*broker.Options)
	// Raft gives every node a Raft directory (kept across restarts of
	// the node id) and a Raft port.
	Raft bool
	// BootstrapExpect is each node's cluster.bootstrap_expect with Raft;
	// Start sets it to the number of nodes when it is 0.
	BootstrapExpect int
}

// Cluster is a set of in-process nodes.
type Cluster struct {
	t     testing.TB
	opts  Options
	log   *slog.Logger
	mu    sync.Mutex
	nodes []*Node
	base  string // parent of the nodes' Raft directories
}

// Node is one node of a Cluster.
type Node struct {
	ID      string
	Server  *broker.Server
	Cluster *cluster.Node
	Addr    string // MQTT over TCP, 127.0.0.1:port

	c    *Cluster
	lis  net.Listener
	down atomic.Bool
}

// Start runs a cluster of n nodes called n1..nN and waits until every node
// knows every other.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.Raft && opts.BootstrapExpect == 0 {
		opts.BootstrapExpect = n
	}
	c := New(t, opts)
	for i := 1; i <= n; i++ {
		c.StartNode(fmt.Sprintf("n%d", i), nil)
	}
	c.WaitConverged()
	if opts.Raft {
		c.WaitLeader()
	}
	return c
}

// New returns an empty cluster; add nodes with StartNode. Every node is
// killed when the test ends.
func New(t testing.TB, opts Options) *Cluster {
	w := &logWriter{w: t.Output()}
	level := slog.LevelWarn
	if os.Getenv("MQTTIO_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	c := &Cluster{t: t, opts: opts, log: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))}
	if opts.Raft {
		c.base = t.TempDir()
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range c.Nodes() {
			wg.Add(1)
			go func() { defer wg.Done(); n.Kill() }()
		}
		wg.Wait()
		w.close()
	})
	return c
}

// logWriter forwards to the test's output until the test ends: background
// goroutines that log late must not touch a finished test.
type logWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *logWriter) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// Nodes returns every node started, live or not, in start order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

// Live returns the nodes not killed or stopped.
func (c *Cluster) Live() []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if !n.down.Load() {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the latest live node with the given id, or nil.
func (c *Cluster) Node(id string) *Node {
	live := c.Live()
	for i := len(live) - 1; i >= 0; i-- {
		if live[i].ID == id {
			return live[i]
		}
	}
	return nil
}

// StartNode starts a node with the given id that joins the live nodes.
// configure, if not nil, adjusts its cluster configuration last.
func (c *Cluster) StartNode(id string, configure func(*cluster.Config)) *Node {
	t := c.t
	t.Helper()
	cfg := cluster.Config{
		NodeID:      id,
		Version:     "test",
		Bind:        "127.0.0.1:0",
		GRPCAddress: "127.0.0.1:0",
		Timings:     cluster.FastTimings(),
		Logger:      c.log.With("test_node", id),
	}
	for _, n := range c.Live() {
		cfg.Join = append(cfg.Join, n.Cluster.GossipAddress())
	}
	if c.opts.Raft {
		cfg.RaftDir = c.RaftDir(id)
		cfg.RaftAddress = "127.0.0.1:0"
		cfg.BootstrapExpect = c.opts.BootstrapExpect
		cfg.ProposeTimeout = 3 * time.Second
	}
	if c.opts.Cluster != nil {
		c.opts.Cluster(&cfg)
	}
	if configure != nil {
		configure(&cfg)
	}
	cn, err := cluster.New(cfg)
	if err != nil {
		t.Fatalf("cluster.New(%s): %v", id, err)
	}
	bo := broker.Options{NodeID: id, Cluster: cn, SysInterval: -1, Logger: cfg.Logger}
	if c.opts.Broker != nil {
		c.opts.Broker(&bo)
	}
	srv, err := broker.New(bo)
	if err != nil {
		t.Fatalf("broker.New(%s): %v", id, err)
	}
	if err := cn.Start(srv); err != nil {
		t.Fatalf("cluster.Start(%s): %v", id, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, "tcp")
	n := &Node{ID: id, Server: srv, Cluster: cn, Addr: l.Addr().String(), c: c, lis: l}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n
}

// Kill stops the node abruptly: no leave message, so the others find out
// through failure detection; forwarding queues are lost.
func (n *Node) Kill() {
	if n.down.Swap(true) {
		return
	}
	n.Cluster.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Server.Shutdown(ctx)
}

// Stop stops the node gracefully: clients are disconnected, the
// forwarding queues drain, and the node leaves the cluster.
func (n *Node) Stop() {
	if n.down.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Server.Shutdown(ctx)
	n.Cluster.Leave(ctx)
}

// Restart starts a new node with the same id that joins the live nodes
// (the old one should be down).
func (n *Node) Restart() *Node {
	n.c.t.Helper()
	return n.c.StartNode(n.ID, nil)
}

// Dial connects a raw MQTT client to the node and completes CONNECT with
// a clean session.
func (n *Node) Dial(t testing.TB, clientID string, v packet.Version) *mqtttest.Conn {
	t.Helper()
	c := mqtttest.Dial(t, n.Addr, v)
	c.Connect(&packet.Connect{ClientID: []byte(clientID), CleanStart: true, KeepAlive: 60})
	return c
}

// WaitConverged waits until every live node knows every other live node
// (the current incarnation) and holds exactly its announced routes.
func (c *Cluster) WaitConverged() {
	c.t.Helper()
	mqtttest.Eventually(c.t, "cluster convergence", func() bool {
		live := c.Live()
		for _, a := range live {
			for _, b := range live {
				if a == b {
					continue
				}
				if !a.knows(b) || !sameRoutes(a.Cluster.RemoteRoutes(b.ID), b.Cluster.LocalRoutes()) {
					return false
				}
			}
		}
		return true
	})
}

// knows reports whether a forwards to b's current incarnation.
func (a *Node) knows(b *Node) bool {
	var self cluster.Member
	for _, m := range b.Cluster.Members() {
		if m.Self {
			self = m
		}
	}
	for _, m := range a.Cluster.Members() {
		if !m.Self && m.NodeID == b.ID && m.StartID == self.StartID {
			return true
		}
	}
	return false
}

// WaitRoute waits until every other live node knows node from (this
// incarnation) and holds its route r (present) or no longer holds it
// (!present).
func (c *Cluster) WaitRoute(from *Node, r cluster.Route, present bool) {
	c.t.Helper()
	what := fmt.Sprintf("route %+v of %s present=%v everywhere", r, from.ID, present)
	mqtttest.Eventually(c.t, what, func() bool {
		for _, n := range c.Live() {
			if n == from {
				continue
			}
			if !n.knows(from) || slices.Contains(n.Cluster.RemoteRoutes(from.ID), r) != present {
				return false
			}
		}
		return true
	})
}

func sameRoutes(a, b []cluster.Route) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range b {
		if !slices.Contains(a, r) {
			return false
		}
	}
	return true
}

// RaftDir returns the Raft directory of node id (with Options.Raft).
func (c *Cluster) RaftDir(id string) string { return filepath.Join(c.base, id) }

// Wipe deletes the node's Raft directory, as a lost disk would; the node
// must be down. Restart it to bring it back empty.
func (n *Node) Wipe() {
	n.c.t.Helper()
	if !n.down.Load() {
		n.c.t.Fatalf("Wipe(%s): the node is running", n.ID)
	}
	if err := os.RemoveAll(n.c.RaftDir(n.ID)); err != nil {
		n.c.t.Fatal(err)
	}
}

// Down reports whether the node was killed or stopped.
func (n *Node) Down() bool { return n.down.Load() }

// WaitLeader waits until every live node knows the same leader, one of
// them, which knows it leads, and returns it.
func (c *Cluster) WaitLeader() *Node {
	c.t.Helper()
	var leader *Node
	mqtttest.Eventually(c.t, "one Raft leader known to every live node", func() bool {
		leader = c.leader()
		return leader != nil
	})
	return leader
}

func (c *Cluster) leader() *Node {
	live := c.Live()
	if len(live) == 0 {
		return nil
	}
	id := live[0].Cluster.RaftStatus().LeaderID
	if id == "" {
		return nil
	}
	var leader *Node
	for _, n := range live {
		if n.Cluster.RaftStatus().LeaderID != id {
			return nil
		}
		if n.ID == id {
			leader = n
		}
	}
	if leader == nil || !leader.Cluster.IsLeader() {
		return nil
	}
	return leader
}

// Followers returns the live nodes that are not the leader.
func (c *Cluster) Followers() []*Node {
	var out []*Node
	for _, n := range c.Live() {
		if !n.Cluster.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// WaitRetained waits until every live node's retained index holds payload
// for topic ("" payload: holds nothing for it).
func (c *Cluster) WaitRetained(topic, payload string) {
	c.t.Helper()
	mqtttest.Eventually(c.t, fmt.Sprintf("retained %q = %q on every node", topic, payload), func() bool {
		for _, n := range c.Live() {
			if n.Retained(topic) != payload {
				return false
			}
		}
		return true
	})
}

// Retained returns the payload of the node's retained message for topic,
// "" if none.
func (n *Node) Retained(topic string) string {
	msgs, _ := n.Server.RetainedMessages(topic, 1)
	if len(msgs) == 0 || msgs[0].Topic != topic {
		return ""
	}
	return string(msgs[0].Payload)
}
