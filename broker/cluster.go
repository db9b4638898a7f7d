package broker

import (
	"iter"
	"strings"

	"github.com/mqttio/mqttio/broker/topic"
)

// The core's side of the cluster: what cluster/ calls on the Server. The
// Cluster interface (hooks.go) is the other direction.

// SharedGroup names a shared subscription group, "$share/{Name}/{Filter}".
type SharedGroup struct {
	Filter string // the real filter, without the $share prefix
	Name   string // the share name
}

// Delivery says which of this node's subscriptions a message forwarded by
// another node goes to. The publishing node decides: it sends a message to
// each node once, for that node's normal subscriptions and for the shared
// groups it picked that node for, so each group gets it once cluster-wide.
type Delivery struct {
	Normal bool          // every matching non-shared subscription
	Groups []SharedGroup // one member of each of these groups
}

// HasRoute reports whether this node has a subscriber to filter: a normal
// one when group is "", else a member of that shared group.
func (srv *Server) HasRoute(filter, group string) bool {
	return srv.subs.Has(filter, group)
}

// Routes calls fn once for every (filter, group) this node has subscribers
// for; group is "" for normal subscriptions. It walks the whole subscription
// index: meant for start-up, not for the publish path.
func (srv *Server) Routes(fn func(filter, group string)) {
	type route struct{ filter, group string }
	seen := make(map[route]struct{})
	var all []route
	srv.subs.Walk(func(filter, group string, _ topic.Entry[*session]) {
		r := route{filter, group}
		if _, ok := seen[r]; !ok {
			seen[r] = struct{}{}
			all = append(all, r)
		}
	})
	// fn runs after the walk: it may call HasRoute, which takes the
	// trie's read lock, and a read lock must not be taken twice.
	for _, r := range all {
		fn(r.filter, r.group)
	}
}

// DeliverForwarded routes a message that another node forwarded to this
// node's subscribers only, as d says. No-local, retain-as-published, QoS
// downgrade and subscription identifiers apply as for a local publish
// (m.Origin and m.OriginNode name the publisher). It returns the groups of
// d this node had no member of (the sender gives them to another node) and
// whether a store write was issued (see AfterCommit).
func (srv *Server) DeliverForwarded(m *Message, d Delivery) (missed []SharedGroup, persisted bool) {
	r := routers.Get().(*router)
	r.forwarded, r.fwd = true, d
	persisted = srv.route(r, m)
	for _, want := range d.Groups {
		found := false
		for i := range r.targets {
			if g := r.targets[i].group; g != nil && g.Name() == want.Name && g.Filter() == want.Filter {
				found = true
				break
			}
		}
		if !found {
			missed = append(missed, want)
		}
	}
	r.forwarded, r.fwd = false, Delivery{}
	routers.Put(r)
	return missed, persisted
}

// restrictForwarded drops from a routing in progress what a forwarded
// message was not sent for (see Delivery).
func (r *router) restrictForwarded() {
	if !r.fwd.Normal {
		r.entries = r.entries[:0]
	}
	keep := r.groups[:0]
	for _, g := range r.groups {
		for _, want := range r.fwd.Groups {
			if g.Name() == want.Name && g.Filter() == want.Filter {
				keep = append(keep, g)
				break
			}
		}
	}
	r.groups = keep
}

// AfterCommit calls fn once everything this server handed to its store so
// far is durable, or with the store's error; at once when there is no
// store. fn runs on the store's goroutine and must not block.
func (srv *Server) AfterCommit(fn func(error)) {
	if st := srv.opts.Store; st != nil {
		st.Commit(nil, fn)
		return
	}
	fn(nil)
}

// ApplyRetained makes m the retained message of m.Topic in this node's
// index (an empty payload removes it), without writing the store,
// publishing or replicating anything: the cluster calls it for every
// committed change of its replicated retained messages (see
// RetainedReplicator). m is kept and must not be modified afterwards.
func (srv *Server) ApplyRetained(m *Message) {
	if len(m.Payload) == 0 {
		srv.retained.Delete(m.Topic)
		return
	}
	srv.retained.Set(m.Topic, m)
}

// ResetRetained replaces this node's retained messages with all (the
// cluster's replicated state, at start-up and after a snapshot restore),
// without writing the store. The "$SYS/" topics are kept: they describe
// this node. The messages are kept and must not be modified afterwards.
func (srv *Server) ResetRetained(all iter.Seq[*Message]) {
	keep := make(map[string]struct{})
	for m := range all {
		if len(m.Payload) == 0 {
			continue
		}
		keep[m.Topic] = struct{}{}
		srv.retained.Set(m.Topic, m)
	}
	var drop []string
	srv.retained.Walk(func(name string, _ *Message) bool {
		if _, ok := keep[name]; !ok && !strings.HasPrefix(name, "$SYS/") {
			drop = append(drop, name)
		}
		return true
	})
	for _, name := range drop {
		srv.retained.Delete(name)
	}
}
