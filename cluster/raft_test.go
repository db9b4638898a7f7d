package cluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/cluster"
	"github.com/mqttio/mqttio/cluster/clustertest"
)

// servers describes a node's Raft configuration: "n1 n2 n3+" (a "+" marks
// a non-voter), sorted.
func servers(n *clustertest.Node) string {
	var out []string
	for _, s := range n.Cluster.RaftStatus().Servers {
		id := s.ID
		if !s.Voter {
			id += "+"
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// waitServers waits until the leader's configuration is want.
func waitServers(t *testing.T, c *clustertest.Cluster, want string) *clustertest.Node {
	t.Helper()
	var leader *clustertest.Node
	mqtttest.Eventually(t, "raft configuration "+want, func() bool {
		leader = c.WaitLeader()
		return servers(leader) == want
	})
	return leader
}

// setRetained publishes a retained message with QoS 1 on n and checks the
// PUBACK; the publisher disconnects.
func setRetained(t *testing.T, n *clustertest.Node, topic, payload string) {
	t.Helper()
	p := n.Dial(t, "set-"+strings.ReplaceAll(topic, "/", "-"), packet.V5)
	if rc := p.Publish(topic, 1, true, payload, 1); rc.IsError() && rc != packet.NoMatchingSubscribers {
		t.Fatalf("retained publish %q on %s: %v", topic, n.ID, rc)
	}
	p.Send(&packet.Disconnect{})
	p.Conn.Close()
}

// expectRetained subscribes on n and checks the retained message it gets.
func expectRetained(t *testing.T, n *clustertest.Node, topic, payload string) {
	t.Helper()
	s := n.Dial(t, "get-"+n.ID+"-"+strings.ReplaceAll(topic, "/", "-"), packet.V311)
	sub(t, s, 1, 0, filter(topic, 1))
	if payload == "" {
		s.ExpectNone()
	} else if p := expect(t, s, topic, payload); !p.Retain {
		t.Fatalf("%s: %q arrived without the retain flag", n.ID, topic)
	}
	s.Conn.Close()
}

func raftOpts(configure func(*cluster.Config)) clustertest.Options {
	return clustertest.Options{Raft: true, Cluster: configure}
}

// TestRaftBootstrap starts three nodes in another order than their ids:
// they found one cluster together. Restarted with their state, they form
// the same cluster again without bootstrapping; a node whose disk was
// wiped rejoins it instead of founding another.
func TestRaftBootstrap(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Raft: true, BootstrapExpect: 3})
	for _, id := range []string{"n3", "n1", "n2"} {
		c.StartNode(id, nil)
	}
	c.WaitConverged()
	leader := waitServers(t, c, "n1 n2 n3")
	for _, n := range c.Live() {
		if st := n.Cluster.RaftStatus(); !st.Bootstrapped || len(st.Servers) != 3 {
			t.Fatalf("%s: %+v", n.ID, st)
		}
	}
	setRetained(t, c.Node("n2"), "boot/a", "before restart")
	c.WaitRetained("boot/a", "before restart")
	term := leader.Cluster.RaftStatus().Term

	// All three down, then up again with their state: the same cluster.
	for _, n := range c.Live() {
		n.Kill()
	}
	for _, id := range []string{"n2", "n3", "n1"} {
		c.StartNode(id, nil)
	}
	c.WaitConverged()
	leader = waitServers(t, c, "n1 n2 n3")
	for _, n := range c.Live() {
		st := n.Cluster.RaftStatus()
		if st.Bootstrapped || !st.HasState {
			t.Fatalf("%s bootstrapped again after a restart with state: %+v", n.ID, st)
		}
		// The retained index comes from the FSM (the brokers have no
		// store here).
		if got := n.Retained("boot/a"); got != "before restart" {
			t.Fatalf("%s after restart: retained %q", n.ID, got)
		}
	}
	if st := leader.Cluster.RaftStatus(); st.Term <= term {
		t.Fatalf("term %d after the restart, was %d: a new cluster?", st.Term, term)
	}

	// n1 loses its disk: it comes back empty and must join, not found.
	n1 := c.Node("n1")
	n1.Kill()
	n1.Wipe()
	n1 = n1.Restart()
	c.WaitConverged()
	mqtttest.Eventually(t, "the wiped node to catch up", func() bool {
		return n1.Retained("boot/a") == "before restart"
	})
	leader = waitServers(t, c, "n1 n2 n3")
	if st := n1.Cluster.RaftStatus(); st.Bootstrapped || st.LeaderID != leader.ID {
		t.Fatalf("wiped node: %+v (leader %s)", st, leader.ID)
	}
	// It is a working member: a change made on it reaches everyone.
	setRetained(t, n1, "boot/b", "after wipe")
	c.WaitRetained("boot/b", "after wipe")

	// n3 loses its log and snapshots but keeps fsm.db: that state
	// machine no longer matches any log; it is discarded and rebuilt.
	n3 := c.Node("n3")
	n3.Kill()
	for _, f := range []string{"raft.db", "snapshots"} {
		if err := os.RemoveAll(filepath.Join(c.RaftDir("n3"), f)); err != nil {
			t.Fatal(err)
		}
	}
	n3 = n3.Restart()
	c.WaitConverged()
	setRetained(t, c.Node("n2"), "boot/c", "after partial loss")
	c.WaitRetained("boot/c", "after partial loss")
	c.WaitRetained("boot/b", "after wipe")
	if st := n3.Cluster.RaftStatus(); st.Bootstrapped || st.LeaderID != c.WaitLeader().ID {
		t.Fatalf("n3: %+v", st)
	}
}

// TestRetainedReplication sets, replaces and deletes retained messages on
// one node and reads them on the others, through the death of the node
// that received them and on a node that joins later from a snapshot.
func TestRetainedReplication(t *testing.T) {
	c := clustertest.Start(t, 3, raftOpts(func(cfg *cluster.Config) {
		cfg.SnapshotThreshold = 16
		cfg.TrailingLogs = 4
	}))
	a, b, n3 := c.Node("n1"), c.Node("n2"), c.Node("n3")

	// A retained message that expires in a second: checked at the end.
	exp := a.Dial(t, "rr-exp", packet.V5)
	pe := &packet.Publish{Topic: []byte("rr/exp"), QoS: 1, Retain: true, PacketID: 1, Payload: []byte("soon gone")}
	pe.Properties.Has |= packet.HasMessageExpiry
	pe.Properties.MessageExpiry = 1
	exp.Send(pe)
	exp.ExpectAck(packet.PUBACK, 1)
	c.WaitRetained("rr/exp", "soon gone")

	// Set on n1 with QoS 1: once acknowledged, a subscriber on n1 sees
	// it at once (read your writes), one on n3 as soon as n3 applied it.
	pub := a.Dial(t, "rr-pub", packet.V5)
	if rc := pub.Publish("rr/t", 1, true, "v1", 1); rc.IsError() && rc != packet.NoMatchingSubscribers {
		t.Fatal(rc)
	}
	expectRetained(t, a, "rr/t", "v1")
	c.WaitRetained("rr/t", "v1")
	expectRetained(t, n3, "rr/t", "v1")

	// A subscriber on n3 gets a live update as well (forwarding), and the
	// replaced value is retained everywhere.
	live := n3.Dial(t, "rr-live", packet.V311)
	sub(t, live, 1, 0, filter("rr/t", 1))
	expect(t, live, "rr/t", "v1")
	c.WaitRoute(n3, route("rr/t", ""), true)
	if rc := pub.Publish("rr/t", 1, true, "v2", 2); rc.IsError() {
		t.Fatal(rc)
	}
	expect(t, live, "rr/t", "v2")
	c.WaitRetained("rr/t", "v2")
	expectRetained(t, b, "rr/t", "v2")

	// Many updates of one topic in a row: they coalesce while one is in
	// flight, and the last wins everywhere. QoS 2 for the last.
	for i := range 50 {
		pub.Send(&packet.Publish{Topic: []byte("rr/burst"), Retain: true, Payload: fmt.Appendf(nil, "b%d", i)})
	}
	if rc := pub.Publish("rr/burst", 2, true, "last", 3); rc.IsError() && rc != packet.NoMatchingSubscribers {
		t.Fatal(rc)
	}
	if got := a.Retained("rr/burst"); got != "last" {
		t.Fatalf("n1 after the QoS 2 exchange: %q", got)
	}
	c.WaitRetained("rr/burst", "last")
	st := a.Cluster.RaftStatus()
	t.Logf("burst of 51: proposed %d, coalesced %d, entries %d", st.Proposed, st.Coalesced, st.Entries)

	// Delete: an empty retained payload.
	if rc := pub.Publish("rr/burst", 1, true, "", 4); rc.IsError() && rc != packet.NoMatchingSubscribers {
		t.Fatal(rc)
	}
	if got := a.Retained("rr/burst"); got != "" {
		t.Fatalf("n1 right after the delete: %q", got)
	}
	c.WaitRetained("rr/burst", "")
	expectRetained(t, b, "rr/burst", "")

	// The node that received the messages dies: they live on.
	if rc := pub.Publish("rr/u", 1, true, "from n1", 5); rc.IsError() && rc != packet.NoMatchingSubscribers {
		t.Fatal(rc)
	}
	a.Kill()
	c.WaitLeader()
	for _, n := range []*clustertest.Node{b, n3} {
		mqtttest.Eventually(t, "rr/u on "+n.ID, func() bool { return n.Retained("rr/u") == "from n1" })
		expectRetained(t, n, "rr/u", "from n1")
		expectRetained(t, n, "rr/t", "v2")
	}

	// A node that joins later gets the state from a snapshot: the log
	// it would need is compacted.
	leader := c.WaitLeader()
	for i := range 10 {
		setRetained(t, leader, fmt.Sprintf("rr/fill/%d", i), "x")
	}
	if err := cluster.ForceSnapshot(leader.Cluster); err != nil {
		t.Fatal(err)
	}
	n4 := c.StartNode("n4", nil)
	mqtttest.Eventually(t, "n4 to restore the state", func() bool {
		return n4.Retained("rr/u") == "from n1" && n4.Retained("rr/fill/9") == "x"
	})
	if st := n4.Cluster.RaftStatus(); st.FSM.Restores == 0 {
		t.Fatalf("n4 caught up without a snapshot: %+v", st.FSM)
	}
	expectRetained(t, n4, "rr/t", "v2")
	expectRetained(t, n4, "rr/burst", "")

	// The expired message left the replicated state (the leader proposed
	// its expiry) and every node's index.
	for _, n := range c.Live() {
		mqtttest.Eventually(t, "rr/exp expired on "+n.ID, func() bool {
			_, ok := cluster.FSMRetained(n.Cluster)["rr/exp"]
			return !ok && n.Retained("rr/exp") == ""
		})
	}
	expectRetained(t, n4, "rr/exp", "")
}

// TestRaftTLS runs Raft over TLS with client certificates: the cluster
// forms and replicates, and the Raft port refuses a client without a
// certificate.
func TestRaftTLS(t *testing.T) {
	caFile, certFile, keyFile := testPKI(t)
	c := clustertest.Start(t, 3, raftOpts(func(cfg *cluster.Config) {
		cfg.TLS = cluster.TLSConfig{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, VerifyClients: true}
	}))
	setRetained(t, c.Node("n3"), "tls/r", "over TLS")
	c.WaitRetained("tls/r", "over TLS")

	leader := c.WaitLeader()
	var addr string
	for _, s := range leader.Cluster.RaftStatus().Servers {
		if s.ID == leader.ID {
			addr = s.Address
		}
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err == nil {
		// TLS 1.3: the server's refusal arrives with the first read.
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("the Raft port served a client without a certificate")
	}
}

// TestRaftLeaderLoss kills the leader: a new one is elected and retained
// publishes go on on the majority. Then one node is cut off: a retained
// QoS 1 publish there is never acknowledged (the publisher is disconnected
// with 0x83 at the proposal timeout), while the majority carries on; once
// reconnected the node converges.
func TestRaftLeaderLoss(t *testing.T) {
	c := clustertest.Start(t, 3, raftOpts(func(cfg *cluster.Config) {
		cfg.ProposeTimeout = time.Second
	}))
	old := c.WaitLeader()
	setRetained(t, c.Followers()[0], "ll/a", "1")
	old.Kill()
	start := time.Now()
	leader := c.WaitLeader()
	t.Logf("new leader %s elected %v after the old leader was killed", leader.ID, time.Since(start).Round(time.Millisecond))
	if leader == old {
		t.Fatal("the dead leader still leads")
	}
	for _, n := range c.Live() {
		setRetained(t, n, "ll/by-"+n.ID, "after")
	}
	for _, n := range c.Live() {
		c.WaitRetained("ll/by-"+n.ID, "after")
	}
	c.WaitRetained("ll/a", "1")

	// Bring the third node back, then cut a follower off.
	old.Restart()
	c.WaitConverged()
	waitServers(t, c, "n1 n2 n3")
	minority := c.Followers()[0]
	cluster.Isolate(minority.Cluster, true)
	p := minority.Dial(t, "ll-minority", packet.V5)
	p.Send(&packet.Publish{Topic: []byte("ll/minority"), QoS: 1, Retain: true, Payload: []byte("lost"), PacketID: 1})
	// No PUBACK: the connection ends with DISCONNECT 0x83 after the
	// proposal timeout, and nothing was committed.
	before := time.Now()
	p.ExpectDisconnect(packet.ImplementationSpecificError)
	if waited := time.Since(before); waited < 500*time.Millisecond {
		t.Fatalf("gave up after %v, before the proposal timeout", waited)
	}
	if st := minority.Cluster.RaftStatus(); st.Failed == 0 {
		t.Fatalf("failure not counted: %+v", st)
	}
	// Its readiness check says so (/readyz).
	mqtttest.Eventually(t, "the cut-off node not ready", func() bool { return minority.Cluster.CheckQuorum() != nil })
	// The majority goes on.
	var majority []*clustertest.Node
	for _, n := range c.Live() {
		if n != minority {
			majority = append(majority, n)
		}
	}
	setRetained(t, majority[0], "ll/majority", "ok")
	for _, n := range majority {
		mqtttest.Eventually(t, "ll/majority on "+n.ID, func() bool { return n.Retained("ll/majority") == "ok" })
	}
	if got := minority.Retained("ll/majority"); got != "" {
		t.Fatalf("the cut-off node applied %q", got)
	}
	for _, n := range majority {
		if err := n.Cluster.CheckQuorum(); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
	}
	// Heal: the node converges, and the minority's write never happened.
	cluster.Isolate(minority.Cluster, false)
	mqtttest.Eventually(t, "the healed node ready", func() bool { return minority.Cluster.CheckQuorum() == nil })
	c.WaitRetained("ll/majority", "ok")
	c.WaitRetained("ll/minority", "")
	setRetained(t, minority, "ll/healed", "yes")
	c.WaitRetained("ll/healed", "yes")
}

// TestRaftMembership checks who votes: a fourth node joins as a non-voter
// (raft_voters 3); a dead voter is removed after dead_server_timeout and
// the non-voter promoted in its place; a leaving leader hands leadership
// over and keeps its seat; a dead node is removed by hand.
func TestRaftMembership(t *testing.T) {
	c := clustertest.Start(t, 3, raftOpts(func(cfg *cluster.Config) {
		cfg.DeadServerTimeout = 500 * time.Millisecond
	}))
	c.StartNode("n4", func(cfg *cluster.Config) { cfg.BootstrapExpect = 0 })
	c.WaitConverged()
	leader := waitServers(t, c, "n1 n2 n3 n4+")

	// A dead voter goes after the timeout; n4 takes its seat.
	var victim *clustertest.Node
	for _, n := range c.Followers() {
		if n.ID != "n4" {
			victim = n
			break
		}
	}
	victim.Kill()
	var rest []string
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		if id != victim.ID {
			rest = append(rest, id)
		}
	}
	leader = waitServers(t, c, strings.Join(rest, " "))
	mqtttest.Eventually(t, "removal and promotion counted", func() bool {
		st := leader.Cluster.RaftStatus()
		return st.Removed > 0 && st.Promoted > 0
	})
	setRetained(t, c.Node("n4"), "mb/a", "1")
	c.WaitRetained("mb/a", "1")
	// The registry, written by the leader, has the victim down.
	mqtttest.Eventually(t, "the victim down in the registry", func() bool {
		reg, err := c.Node("n4").Cluster.Registry()
		if err != nil || len(reg) != 4 {
			return false
		}
		for _, ns := range reg {
			if ns.Alive != (ns.NodeID != victim.ID) {
				return false
			}
		}
		return true
	})

	// The victim comes back: added again, as a non-voter now.
	victim = victim.Restart()
	c.WaitConverged()
	mqtttest.Eventually(t, "the victim alive again in the registry", func() bool {
		reg, _ := victim.Cluster.Registry()
		for _, ns := range reg {
			if ns.NodeID == victim.ID {
				return ns.Alive && ns.StartID == victim.Cluster.Members()[0].StartID
			}
		}
		return false
	})
	rest = append(rest, victim.ID+"+")
	slices.Sort(rest)
	waitServers(t, c, strings.Join(rest, " "))

	// The leader leaves gracefully: leadership moves at once, and the
	// configuration keeps it.
	leader = c.WaitLeader()
	leader.Stop()
	next := c.WaitLeader()
	if next == leader {
		t.Fatal("the stopped leader still leads")
	}
	if st := leader.Cluster.RaftStatus(); st.Transfers != 1 {
		t.Fatalf("no leadership transfer on leave: %+v", st)
	}
	if s := servers(next); !strings.Contains(s, leader.ID) {
		t.Fatalf("the leaving leader was removed: %s", s)
	}

	// Removing a live node is refused; a dead one goes at once, by hand,
	// through whichever node is asked.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	follower := c.Followers()[0]
	mqtttest.Eventually(t, "the departure known", func() bool {
		for _, n := range c.Live() {
			if n.Cluster.Stats().Members != len(c.Live())-1 {
				return false
			}
		}
		return true
	})
	if err := follower.Cluster.RemoveServer(ctx, next.ID); err == nil {
		t.Fatal("removed a live node")
	}
	if err := follower.Cluster.RemoveServer(ctx, leader.ID); err != nil {
		t.Fatal(err)
	}
	if s := servers(c.WaitLeader()); strings.Contains(s, leader.ID) {
		t.Fatalf("still in the configuration: %s", s)
	}
}

// TestCanRemove is the dead-server rule: a voter goes only if the live
// voters left are a quorum of the voters left.
func TestCanRemove(t *testing.T) {
	alive := func(ids ...string) map[string]bool {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	for _, tc := range []struct {
		voters, nonvoters []string
		alive             map[string]bool
		target            string
		want              bool
	}{
		{[]string{"a", "b", "c"}, nil, alive("a", "b"), "c", true}, // 2 of 2 left
		{[]string{"a", "b", "c"}, nil, alive("a"), "c", false},     // 1 of 2 left
		{[]string{"a", "b", "c", "d", "e"}, nil, alive("a", "b", "c"), "e", true},
		{[]string{"a", "b", "c", "d"}, nil, alive("a", "b", "c"), "d", true}, // then 3 of 3
		{[]string{"a", "b", "c", "d", "e"}, nil, alive("a", "b"), "e", false},
		{[]string{"a"}, nil, alive(), "a", false},                       // never the last
		{[]string{"a", "b", "c"}, []string{"x"}, alive("a"), "x", true}, // non-voters always
		{[]string{"a", "b"}, nil, alive("a"), "b", true},                // 1 of 1 left
	} {
		if got := cluster.CanRemove(tc.voters, tc.nonvoters, tc.alive, tc.target); got != tc.want {
			t.Errorf("voters %v nonvoters %v alive %v: remove %s = %v, want %v", tc.voters, tc.nonvoters, tc.alive, tc.target, got, tc.want)
		}
	}
}

// TestPeersJSONRecovery follows docs/cluster.md: two of three nodes are
// lost for good; the survivor is stopped, given a peers.json naming only
// itself, and started: it leads alone with the state it had.
func TestPeersJSONRecovery(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{Raft: true})
	setRetained(t, c.Node("n1"), "pj/a", "kept")
	c.WaitRetained("pj/a", "kept")
	for _, n := range c.Live() {
		n.Kill()
	}
	peers, _ := json.Marshal([]map[string]any{{"id": "n1", "address": "127.0.0.1:1", "non_voter": false}})
	if err := os.WriteFile(filepath.Join(c.RaftDir("n1"), "peers.json"), peers, 0o600); err != nil {
		t.Fatal(err)
	}
	n1 := c.StartNode("n1", nil)
	if got := c.WaitLeader(); got != n1 || servers(n1) != "n1" {
		t.Fatalf("leader %s, configuration %q", got.ID, servers(n1))
	}
	if st := n1.Cluster.RaftStatus(); !st.Recovered || st.Bootstrapped {
		t.Fatalf("%+v", st)
	}
	if _, err := os.Stat(filepath.Join(c.RaftDir("n1"), "peers.json")); !os.IsNotExist(err) {
		t.Fatalf("peers.json left in place: %v", err)
	}
	expectRetained(t, n1, "pj/a", "kept")
	setRetained(t, n1, "pj/b", "new")
	if got := n1.Retained("pj/b"); got != "new" {
		t.Fatalf("after recovery: %q", got)
	}
}
