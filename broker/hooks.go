package broker

import (
	"net"

	"github.com/mqttio/mqttio/broker/packet"
)

// ClientInfo describes an authenticated (or authenticating) client to the
// Authorizer.
type ClientInfo struct {
	ClientID   string
	Username   string
	CommonName string // subject CN of a verified TLS client certificate, "" otherwise
	Transport  string // "tcp", "tls", "ws", "socketio", ...
	RemoteAddr net.Addr
}

// Action is what a client asks to do with a topic.
type Action uint8

// Actions checked by Authorizer.Authorize.
const (
	ActionPublish   Action = iota + 1 // PUBLISH to a topic name (also the will)
	ActionSubscribe                   // SUBSCRIBE to a topic filter
	ActionReceive                     // receive a message on a topic name
)

// Authorizer is the access-control seam of the core. The default (nil) allows
// everything. Implementations must be safe for concurrent use and fast:
// Authorize runs on the publish path.
type Authorizer interface {
	// Authenticate decides a CONNECT. It returns packet.Success, or the
	// reason to refuse it (BadUserNameOrPassword, NotAuthorized, Banned).
	Authenticate(ci *ClientInfo, password []byte) packet.ReasonCode
	// Authorize reports whether the client may perform action on topic.
	Authorize(ci *ClientInfo, action Action, topic string) bool
}

// Cluster is what the core needs from the cluster layer; cluster/ implements
// it and cmd/ wires it. A nil Cluster means a single node. The core calls it
// without holding any of its own locks.
type Cluster interface {
	// RouteAdded is called when this node gets its first subscriber to
	// filter (group is "" unless shared); RouteRemoved after the last one
	// leaves. Calls for the same route from different goroutines may
	// arrive out of order: Server.HasRoute tells the state after them.
	// Routes restored from the store at start-up are not announced: see
	// Server.Routes.
	RouteAdded(filter, group string)
	RouteRemoved(filter, group string)
	// Forward hands a message published on this node to the nodes with
	// matching routes. The core has already delivered it to the local
	// subscribers, including one member of every shared group that has a
	// member here; Forward gives the other groups to one node each. m is
	// immutable and may be kept. It must not block for long. It returns
	// the number of nodes m was queued for (0: no remote subscriber).
	Forward(m *Message) (nodes int)
}

// RetainedReplicator is implemented by a Cluster that replicates retained
// messages (cluster/ with Raft). The core then hands it every change of a
// retained message (client publishes, wills, Server.Publish) instead of
// writing its own index and store, and the cluster applies each committed
// change on every node with Server.ApplyRetained. The publisher's PUBACK
// (QoS 1) or PUBREC (QoS 2) for a retained publish waits for done; if done
// reports an error, the publish is not acknowledged and the publisher is
// disconnected (0x83 Implementation specific error on v5), as for a store
// failure: a client with a session sends it again after reconnecting.
//
// Exception: the sweeper's removal of an expired retained message stays
// local (the cluster expires them in its replicated state itself).
type RetainedReplicator interface {
	// ReplicateRetained proposes m as the retained message of m.Topic (an
	// empty payload removes it) and reports true, or reports false when
	// the cluster does not replicate retained messages (then the core
	// keeps them as a single node does, and done is not called). m is
	// immutable and may be kept. done, if not nil, is called exactly
	// once, on any goroutine and possibly before ReplicateRetained
	// returns: with nil once the change is committed and applied on this
	// node, else with the reason it may not be. It must not block.
	ReplicateRetained(m *Message, done func(error)) bool
}
