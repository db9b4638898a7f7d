package topic

import (
	"strings"
	"sync"
)

// Entry is one subscription as stored in the trie: the broker's subscriber
// handle and the SUBSCRIBE options that delivery needs (§3.8.3.1).
type Entry[S comparable] struct {
	Sub               S
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	ID                uint32 // MQTT 5 subscription identifier, 0 = none
}

// Trie is the subscription index: filters to entries and shared groups. S is
// the broker's subscriber handle, typically a session pointer. The zero
// value is an empty trie; it must not be copied. Safe for concurrent use.
type Trie[S comparable] struct {
	mu      sync.RWMutex
	root    node[S]
	entries int // normal entries plus group members
	filters int // (filter, group) pairs with at least one subscriber
	nodes   int // nodes below the root, for the pruning tests
}

// NewTrie returns an empty trie.
func NewTrie[S comparable]() *Trie[S] {
	return &Trie[S]{}
}

// Subscribe adds e under filter, or replaces the entry of e.Sub already
// there; group is the share name for "$share/{group}/{filter}" (see
// ParseShared) and "" for a normal subscription. The filter must be valid
// and plain. A replacement keeps a single entry per (Sub, filter, group)
// [MQTT-3.8.4-3]. firstForFilter is true when this filter (this group of it,
// if shared) had no subscriber before: the cluster announces a route then.
func (t *Trie[S]) Subscribe(filter, group string, e Entry[S]) (existed, firstForFilter bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for rest, more := filter, true; more; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		var created bool
		if n, created = n.child(level, true); created {
			t.nodes++
		}
	}
	if group == "" {
		if i := n.find(e.Sub); i >= 0 {
			n.subs[i] = e
			return true, false
		}
		firstForFilter = len(n.subs) == 0
		n.add(e)
	} else {
		_, g := n.group(group)
		if g == nil {
			g = &Group[S]{name: group, filter: filter}
			n.groups = append(n.groups, g)
		}
		firstForFilter = g.Len() == 0
		if g.set(e) {
			return true, false
		}
	}
	t.entries++
	if firstForFilter {
		t.filters++
	}
	return false, firstForFilter
}

// Unsubscribe removes the entry of sub under filter (and group). existed is
// false when there was none (v5 UNSUBACK 0x11); lastForFilter is true when it
// was the filter's (group's) last subscriber: the cluster withdraws the
// route then. Nodes left empty are pruned.
func (t *Trie[S]) Unsubscribe(filter, group string, sub S) (existed, lastForFilter bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for rest, more := filter, true; more; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		if n, _ = n.child(level, false); n == nil {
			return false, false
		}
	}
	if group == "" {
		i := n.find(sub)
		if i < 0 {
			return false, false
		}
		n.remove(i)
		lastForFilter = len(n.subs) == 0
	} else {
		gi, g := n.group(group)
		if g == nil || !g.drop(sub) {
			return false, false
		}
		if lastForFilter = g.Len() == 0; lastForFilter {
			last := len(n.groups) - 1
			n.groups[gi] = n.groups[last]
			n.groups[last] = nil
			n.groups = n.groups[:last]
			if last == 0 {
				n.groups = nil
			}
		}
	}
	t.entries--
	if lastForFilter {
		t.filters--
	}
	t.prune(n)
	return true, lastForFilter
}

// prune unlinks n and its ancestors while they are empty.
func (t *Trie[S]) prune(n *node[S]) {
	for n != &t.root && n.empty() {
		p := n.parent
		p.unlink(n)
		n.parent = nil
		t.nodes--
		n = p
	}
}

// Count returns the number of subscriptions: normal entries plus shared
// group members.
func (t *Trie[S]) Count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.entries
}

// FilterCount returns the number of distinct routes: filters with at least
// one normal subscriber, plus shared groups (a filter with normal
// subscribers and two groups counts three).
func (t *Trie[S]) FilterCount() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.filters
}

// Walk calls fn for every entry: group is "" for normal subscriptions, and
// filter is the real filter in both cases. fn runs under the read lock and
// must not call the trie's methods that write. Order is unspecified.
func (t *Trie[S]) Walk(fn func(filter, group string, e Entry[S])) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	walk(&t.root, make([]byte, 0, 64), fn)
}

func walk[S comparable](n *node[S], path []byte, fn func(filter, group string, e Entry[S])) {
	if len(n.subs) > 0 || len(n.groups) > 0 {
		filter := string(path)
		for _, e := range n.subs {
			fn(filter, "", e)
		}
		for _, g := range n.groups {
			for _, e := range g.Members() {
				fn(filter, g.name, e)
			}
		}
	}
	visit := func(c *node[S]) {
		p := path
		if n.parent != nil {
			p = append(p, '/')
		}
		walk(c, append(p, c.key...), fn)
	}
	for _, c := range n.children {
		visit(c)
	}
	if n.plus != nil {
		visit(n.plus)
	}
	if n.hash != nil {
		visit(n.hash)
	}
}
