package cluster

import (
	"sync"
	"sync/atomic"

	"github.com/mqttio/mqttio/broker/topic"
	clusterpb "github.com/mqttio/mqttio/proto"
)

// Route is one (filter, shared group) with subscribers on a node; Group is
// "" for normal subscriptions.
type Route struct {
	Filter string
	Group  string
}

// routeHash is the digest contribution of one route: FNV-1a over filter,
// a zero byte and group. A table's hash is the XOR of its routes' hashes,
// so adding and removing update it in O(1) and the order changes arrive
// in does not matter.
func routeHash(r Route) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(r.Filter); i++ {
		h = (h ^ uint64(r.Filter[i])) * prime
	}
	h *= prime // the zero byte between filter and group
	for i := 0; i < len(r.Group); i++ {
		h = (h ^ uint64(r.Group[i])) * prime
	}
	return h
}

// localRoutes is this node's route table as announced to the cluster.
type localRoutes struct {
	mu      sync.Mutex
	set     map[Route]struct{}
	version uint64 // changes so far; each gossiped delta carries its number
	hash    uint64
}

// snapshot returns a copy of the table and its version.
func (l *localRoutes) snapshot() (uint64, []Route) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := make([]Route, 0, len(l.set))
	for r := range l.set {
		rs = append(rs, r)
	}
	return l.version, rs
}

func (l *localRoutes) digest() (version, hash uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.version, l.hash
}

// member is another node as this node knows it: identity from its
// metadata, its route table, and the peer that forwards to it.
type member struct {
	name       string // memberlist name: node id and start id
	nodeID     string
	startID    uint64
	startAt    int64 // process start, to order incarnations
	version    string
	grpcAddr   string
	gossipAddr string
	peer       *peer // set once when the member is added

	// Raft fields of its metadata; guarded by routeTable.mu.
	raftAddr        string
	raftState       bool
	bootstrapExpect uint32

	alive atomic.Bool // false once declared dead or replaced

	// Guarded by routeTable.mu.
	routes      map[Route]struct{}
	applied     uint64 // the table reflects every delta up to this version
	hash        uint64
	pending     map[uint64]*clusterpb.RouteDelta // deltas that arrived ahead of applied+1
	metaVersion uint64                           // digest last seen in the metadata
	metaHash    uint64
	suspect     uint64 // version announced a sync ago that applied had not reached
	pulling     bool   // a full pull is in flight
}

// maxPending bounds the out-of-order deltas kept per member; past it the
// table is pulled instead.
const maxPending = 1024

// routeTable holds the other nodes' routes: a trie with the member as the
// subscriber answers "which nodes want topic T" with one Match.
type routeTable struct {
	mu      sync.Mutex
	members map[string]*member // by memberlist name
	trie    *topic.Trie[*member]
	count   atomic.Int64 // routes in the trie
}

func newRouteTable() *routeTable {
	return &routeTable{members: make(map[string]*member), trie: topic.NewTrie[*member]()}
}

// setLocked adds (add) or removes route r of mb; t.mu must be held.
func (t *routeTable) setLocked(mb *member, r Route, add bool) {
	_, had := mb.routes[r]
	if had == add {
		return
	}
	mb.hash ^= routeHash(r)
	if add {
		mb.routes[r] = struct{}{}
		t.trie.Subscribe(r.Filter, r.Group, topic.Entry[*member]{Sub: mb})
		t.count.Add(1)
		return
	}
	delete(mb.routes, r)
	t.trie.Unsubscribe(r.Filter, r.Group, mb)
	t.count.Add(-1)
}

// applyDelta applies a gossiped delta in version order and reports whether
// the member's table is now behind enough to need a full pull.
func (t *routeTable) applyDelta(d *clusterpb.RouteDelta) (needPull bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	mb := t.members[d.GetMember()]
	if mb == nil || d.GetVersion() <= mb.applied {
		return false // unknown (its join pull covers it) or already applied
	}
	if d.GetVersion() > mb.applied+1 {
		if len(mb.pending) >= maxPending {
			return true // too far behind: the pull brings it all
		}
		if mb.pending == nil {
			mb.pending = make(map[uint64]*clusterpb.RouteDelta)
		}
		mb.pending[d.GetVersion()] = d
		return false
	}
	t.setLocked(mb, Route{d.GetFilter(), d.GetGroup()}, d.GetAdd())
	mb.applied = d.GetVersion()
	t.drainLocked(mb)
	return false
}

// drainLocked applies the pending deltas that are now next in line.
func (t *routeTable) drainLocked(mb *member) {
	for v := range mb.pending {
		if v <= mb.applied {
			delete(mb.pending, v)
		}
	}
	for {
		d, ok := mb.pending[mb.applied+1]
		if !ok {
			return
		}
		delete(mb.pending, mb.applied+1)
		t.setLocked(mb, Route{d.GetFilter(), d.GetGroup()}, d.GetAdd())
		mb.applied++
	}
}

// replace installs a pulled table of mb at version, unless the table held
// is already as new.
func (t *routeTable) replace(mb *member, version uint64, routes []Route) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.members[mb.name] != mb || version < mb.applied ||
		(version == mb.applied && len(routes) == len(mb.routes) && digestOf(routes) == mb.hash) {
		return false
	}
	want := make(map[Route]struct{}, len(routes))
	for _, r := range routes {
		want[r] = struct{}{}
	}
	for r := range mb.routes {
		if _, ok := want[r]; !ok {
			t.setLocked(mb, r, false)
		}
	}
	for r := range want {
		t.setLocked(mb, r, true)
	}
	mb.applied = version
	t.drainLocked(mb)
	return true
}

func digestOf(rs []Route) uint64 {
	var h uint64
	for _, r := range rs {
		h ^= routeHash(r)
	}
	return h
}

// add registers a member with an empty table.
func (t *routeTable) add(mb *member) {
	mb.routes = make(map[Route]struct{})
	mb.alive.Store(true)
	t.mu.Lock()
	t.members[mb.name] = mb
	t.mu.Unlock()
}

// remove drops a member and all its routes at once.
func (t *routeTable) remove(name string) *member {
	t.mu.Lock()
	defer t.mu.Unlock()
	mb := t.members[name]
	if mb == nil {
		return nil
	}
	mb.alive.Store(false)
	for r := range mb.routes {
		t.setLocked(mb, r, false)
	}
	mb.pending = nil
	delete(t.members, name)
	return mb
}

// get returns the member called name, or nil.
func (t *routeTable) get(name string) *member {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.members[name]
}

// list returns the current members.
func (t *routeTable) list() []*member {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*member, 0, len(t.members))
	for _, mb := range t.members {
		out = append(out, mb)
	}
	return out
}

// routesOf returns a copy of mb's routes.
func (t *routeTable) routesOf(mb *member) []Route {
	t.mu.Lock()
	defer t.mu.Unlock()
	rs := make([]Route, 0, len(mb.routes))
	for r := range mb.routes {
		rs = append(rs, r)
	}
	return rs
}
