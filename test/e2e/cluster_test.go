package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cluster is the docker-compose.yml cluster, started under a project name
// of its own, with every host port chosen by Docker.
type cluster struct {
	t       *testing.T
	project string
	env     []string
	nodes   []string
	ids     map[string]string // service → container id
}

var (
	nodes       = []string{"mqttio-1", "mqttio-2", "mqttio-3"}
	composeFile = filepath.Join(repoRoot, "docker-compose.yml")
)

// startCluster runs `docker-compose up -d` and registers the teardown:
// the nodes' logs when the test failed, then `docker-compose down -v`
// (containers, network, volumes), whatever happened.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{
		t:       t,
		project: uniqueName("mqttioe2e"),
		env:     []string{"BROKER_IMAGE=" + image, "BROKER_HEALTH_INTERVAL=1s"},
		nodes:   nodes,
		ids:     map[string]string{},
	}
	for i := range nodes {
		c.env = append(c.env, fmt.Sprintf("NODE%d_MQTT_PORT=", i+1), fmt.Sprintf("NODE%d_HTTP_PORT=", i+1))
	}
	t.Cleanup(c.down)
	c.compose("up", "-d")
	for _, n := range nodes {
		c.ids[n] = strings.TrimSpace(c.compose("ps", "-q", n))
		if c.ids[n] == "" {
			t.Fatalf("no container for %s", n)
		}
	}
	return c
}

// composeE runs docker-compose for the project.
func (c *cluster) composeE(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := []string{"-p", c.project, "-f", composeFile}
	return runCmd(ctx, c.env, "docker-compose", append(base, args...)...)
}

func (c *cluster) compose(args ...string) string {
	c.t.Helper()
	out, err := c.composeE(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) down() {
	if c.t.Failed() {
		for _, n := range c.nodes {
			if id := c.ids[n]; id != "" {
				st, _ := dockerE("inspect", "-f", "{{json .State}}", id)
				c.t.Logf("%s state: %s", n, st)
			}
		}
		logs, _ := c.composeE("logs", "--no-color", "--tail", "300")
		c.t.Logf("logs of project %s:\n%s", c.project, logs)
	}
	if out, err := c.composeE("down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		c.t.Errorf("teardown: %v\n%s", err, out)
	}
}

// addr returns a function giving the node's published MQTT address now
// (it changes when the node restarts or reconnects).
func (c *cluster) addr(node string) func() string {
	return func() string { return publishedAddr(c.ids[node], "1883/tcp") }
}

func (c *cluster) waitHealthy(nodes ...string) {
	c.t.Helper()
	for _, n := range nodes {
		waitHealth(c.t, c.ids[n], n, "healthy", 2*time.Minute)
	}
}

func (c *cluster) network() string { return c.project + "_cluster" }

// ip is the node's address on the cluster network.
func (c *cluster) ip(node string) string {
	out, _ := dockerE("inspect", "-f", fmt.Sprintf("{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}", c.network()), c.ids[node])
	return strings.TrimSpace(out)
}

// step runs one part of the scenario; the scenario stops at the first
// part that fails, since the later ones build on it.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// TestCluster runs the three-node cluster of docker-compose.yml through
// cross-node delivery, retained messages, a session moving between nodes,
// a node killed during a stream, a node cut off from the network and a
// rolling restart, checking after each that no acknowledged QoS 1 message
// is lost and that the retained value agrees on every node.
func TestCluster(t *testing.T) {
	c := startCluster(t)
	var (
		sub     *client // persistent subscriber to e2e/stream/#
		subID   = "e2e-stream-sub"
		subGot  = messages{}
		retainV = "v1"
	)
	agree := func(t *testing.T, topic, want string) {
		t.Helper()
		for _, n := range c.nodes {
			poll(t, 60*time.Second, 250*time.Millisecond, fmt.Sprintf("retained %s = %q on %s", topic, want, n), func() (bool, string) {
				got := retained(t, c.addr(n), "e2e-ret-"+n, topic)
				return got == want, got
			})
		}
	}

	step(t, "all nodes become ready", func(t *testing.T) {
		c.waitHealthy(c.nodes...)
	})

	step(t, "QoS 1 stream from node 1 to a subscriber on node 3", func(t *testing.T) {
		sub, _ = connect(t, c.addr("mqttio-3"), subID, false)
		sub.subscribe(t, "e2e/stream/#")
		pub, _ := connect(t, c.addr("mqttio-1"), "e2e-pub-1", true)
		defer pub.disconnect()
		awaitRoute(t, pub, sub, "e2e/stream/probe")
		msgs := batch("a", 200)
		pub.publish(t, "e2e/stream/a", msgs)
		sub.receive(t, subGot, msgs, 60*time.Second)
	})

	step(t, "retained message set on node 2 is read on every node", func(t *testing.T) {
		pub, _ := connect(t, c.addr("mqttio-2"), "e2e-pub-2", true)
		defer pub.disconnect()
		pub.retain(t, "e2e/retained", retainV)
		agree(t, "e2e/retained", retainV)
	})

	step(t, "a persistent session moves from node 1 to node 2", func(t *testing.T) {
		mover, _ := connect(t, c.addr("mqttio-1"), "e2e-mover", false)
		mover.subscribe(t, "e2e/move")
		mover.disconnect()
		pub, _ := connect(t, c.addr("mqttio-1"), "e2e-pub-move", true)
		queued := batch("move", 30)
		pub.publish(t, "e2e/move", queued)
		pub.disconnect()
		moved, present := connect(t, c.addr("mqttio-2"), "e2e-mover", false)
		defer moved.disconnect()
		if !present {
			t.Error("session present = 0 on node 2")
		}
		moved.receive(t, messages{}, queued, 60*time.Second)
	})

	step(t, "node 2 killed during a stream, then started again", func(t *testing.T) {
		pub, _ := connect(t, c.addr("mqttio-1"), "e2e-pub-kill", true)
		defer pub.disconnect()
		msgs := batch("kill", 400)
		pub.publish(t, "e2e/stream/kill", msgs[:200])
		docker(t, "kill", c.ids["mqttio-2"])
		pub.publish(t, "e2e/stream/kill", msgs[200:])
		sub.receive(t, subGot, msgs, 60*time.Second)

		// The other two carry on: they still agree on a new retained value.
		retainV = "v2"
		pub.retain(t, "e2e/retained", retainV)
		for _, n := range []string{"mqttio-1", "mqttio-3"} {
			poll(t, 60*time.Second, 250*time.Millisecond, "retained v2 on "+n, func() (bool, string) {
				got := retained(t, c.addr(n), "e2e-ret-"+n, "e2e/retained")
				return got == retainV, got
			})
		}

		docker(t, "start", c.ids["mqttio-2"])
		c.waitHealthy(c.nodes...)
		agree(t, "e2e/retained", retainV)
		// Node 2 delivers again, to and from the others.
		pub2, _ := connect(t, c.addr("mqttio-2"), "e2e-pub-2b", true)
		defer pub2.disconnect()
		awaitRoute(t, pub2, sub, "e2e/stream/probe")
		after := batch("after-kill", 100)
		pub2.publish(t, "e2e/stream/after-kill", after)
		sub.receive(t, subGot, after, 60*time.Second)
	})

	step(t, "node 3 cut off from the network and healed", func(t *testing.T) {
		ipBefore := c.ip("mqttio-3")
		docker(t, "network", "disconnect", c.network(), c.ids["mqttio-3"])
		// The subscriber was on node 3: its connection is gone. It
		// reconnects to node 1, on the majority side, and resumes its
		// session there.
		sub.Conn.Conn.Close()
		var present bool
		sub, present = connect(t, c.addr("mqttio-1"), subID, false)
		if !present {
			t.Error("session present = 0 after moving to node 1")
		}
		// The minority node reports not ready.
		waitHealth(t, c.ids["mqttio-3"], "mqttio-3 cut off", "unhealthy", 60*time.Second)

		pub, _ := connect(t, c.addr("mqttio-2"), "e2e-pub-split", true)
		defer pub.disconnect()
		awaitRoute(t, pub, sub, "e2e/stream/probe")
		during := batch("split", 200)
		pub.publish(t, "e2e/stream/split", during)
		sub.receive(t, subGot, during, 60*time.Second)
		retainV = "v3"
		pub.retain(t, "e2e/retained", retainV)

		docker(t, "network", "connect", "--alias", "mqttio-3", c.network(), c.ids["mqttio-3"])
		if ipAfter := c.ip("mqttio-3"); ipAfter != ipBefore {
			t.Logf("mqttio-3 came back with address %s (was %s)", ipAfter, ipBefore)
		}
		c.waitHealthy(c.nodes...)
		agree(t, "e2e/retained", retainV)
		pub3, _ := connect(t, c.addr("mqttio-3"), "e2e-pub-3", true)
		defer pub3.disconnect()
		awaitRoute(t, pub3, sub, "e2e/stream/probe")
		healed := batch("healed", 100)
		pub3.publish(t, "e2e/stream/healed", healed)
		sub.receive(t, subGot, healed, 60*time.Second)
	})

	step(t, "rolling restart", func(t *testing.T) {
		// The subscriber goes offline (its session stays on node 1); what
		// is published for it while the nodes restart one by one is
		// queued in its session. A live witness on node 1 with the same
		// filter shows when the publisher's node has node 1's route again.
		sub.disconnect()
		var queued []string
		for i, n := range c.nodes {
			docker(t, "restart", "-t", "20", c.ids[n])
			c.waitHealthy(c.nodes...)
			witness, _ := connect(t, c.addr("mqttio-1"), "e2e-witness", true)
			witness.subscribe(t, "e2e/stream/#")
			pub, _ := connect(t, c.addr(n), "e2e-pub-rolling", true)
			awaitRoute(t, pub, witness, "e2e/stream/probe")
			witness.disconnect()
			msgs := batch("rolling-"+n, 50)
			pub.publish(t, "e2e/stream/rolling", msgs)
			retainV = fmt.Sprintf("v-rolling-%d", i)
			pub.retain(t, "e2e/retained", retainV)
			pub.disconnect()
			queued = append(queued, msgs...)
			agree(t, "e2e/retained", retainV)
		}
		var present bool
		sub, present = connect(t, c.addr("mqttio-3"), subID, false)
		defer sub.disconnect()
		if !present {
			t.Error("session present = 0 after the rolling restart")
		}
		sub.receive(t, subGot, queued, 60*time.Second)
	})
}
