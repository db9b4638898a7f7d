package cluster_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/cluster"
	"github.com/mqttio/mqttio/cluster/clustertest"
	"github.com/mqttio/mqttio/storage"
)

// TestGracefulLeave stops a node whose peer is not draining: Leave waits
// for the forwarding queue to drain, so nothing its publishers had
// acknowledged is lost, and the others drop the node at once.
func TestGracefulLeave(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.Options{})
	a, b := c.Node("n1"), c.Node("n2")
	s := b.Dial(t, "gl-sub", packet.V311)
	sub(t, s, 1, 0, filter("gl/#", 1))
	c.WaitRoute(b, route("gl/#", ""), true)

	release := cluster.BlockReceive(b.Cluster)
	defer release()
	pub := a.Dial(t, "gl-pub", packet.V311)
	const total = 20
	for i := range total {
		pub.Publish("gl/x", 1, false, fmt.Sprint(i), uint16(i+1))
	}
	stopped := make(chan struct{})
	go func() {
		a.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Stop returned with the queue to n2 not drained")
	default:
	}
	release()
	<-stopped
	for i := range total {
		expect(t, s, "gl/x", fmt.Sprint(i))
	}
	mqtttest.Eventually(t, "n1 gone everywhere", func() bool {
		for _, n := range c.Live() {
			if n.Cluster.Stats().Members != 1 {
				return false
			}
		}
		return true
	})
}

// TestRestoredRoutes restarts a node from its store: the routes of the
// persistent sessions it restores are announced at Start, and a message
// published on another node reaches the offline session.
func TestRestoredRoutes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n1.db")
	open := func() *storage.DB {
		db, err := storage.Open(storage.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	c := clustertest.New(t, clustertest.Options{Broker: func(o *broker.Options) {
		if o.NodeID == "n1" {
			o.Store = db
		}
	}})
	a := c.StartNode("n1", nil)
	b := c.StartNode("n2", nil)
	c.WaitConverged()

	persistent := &packet.Connect{ClientID: []byte("keeper"), KeepAlive: 60}
	s := mqtttest.Dial(t, a.Addr, packet.V311)
	s.Connect(persistent)
	sub(t, s, 1, 0, filter("keep/+", 1))
	c.WaitRoute(a, route("keep/+", ""), true)
	s.Conn.Close()

	a.Kill()
	db.Close()
	db = open()
	t.Cleanup(func() { db.Close() })
	a2 := a.Restart()
	c.WaitRoute(a2, route("keep/+", ""), true)

	pub := b.Dial(t, "keep-pub", packet.V311)
	pub.Publish("keep/1", 1, false, "while away", 1)
	mqtttest.Eventually(t, "delivery to the offline session", func() bool { return a2.Cluster.Stats().Received > 0 })
	s2 := mqtttest.Dial(t, a2.Addr, packet.V311)
	if ack := s2.Connect(persistent); !ack.SessionPresent {
		t.Fatal("session not restored")
	}
	expect(t, s2, "keep/1", "while away")
}
