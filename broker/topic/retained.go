package topic

import (
	"strings"
	"sync"
)

// Retained holds one value (the retained message) per topic name in a level
// tree, so a filter visits only the branches it can match. The zero value
// is an empty index; it must not be copied. Safe for concurrent use. The broker keeps
// whether a message is to be retained at all (an empty payload deletes,
// [MQTT-3.3.1-6] in v5); this index just stores what it is told.
type Retained[M any] struct {
	mu   sync.RWMutex
	root rnode[M]
	n    int
}

type rnode[M any] struct {
	parent   *rnode[M]
	key      string
	children map[string]*rnode[M]
	topic    string // full topic name, when set
	val      M
	set      bool
}

// NewRetained returns an empty index.
func NewRetained[M any]() *Retained[M] {
	return &Retained[M]{}
}

// Set stores m as the value of topic, replacing any previous one
// ([MQTT-3.3.1-5] in v5). topic must be a valid topic name.
func (r *Retained[M]) Set(topic string, m M) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.root
	for rest, more := topic, true; more; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		c := n.children[level]
		if c == nil {
			c = &rnode[M]{parent: n, key: level}
			if n.children == nil {
				n.children = make(map[string]*rnode[M])
			}
			n.children[level] = c
		}
		n = c
	}
	if !n.set {
		r.n++
	}
	n.topic, n.val, n.set = topic, m, true
}

// find returns the node of topic, or nil. Callers hold r.mu.
func (r *Retained[M]) find(topic string) *rnode[M] {
	n := &r.root
	for rest, more := topic, true; more && n != nil; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		n = n.children[level]
	}
	return n
}

// Get returns the value of topic.
func (r *Retained[M]) Get(topic string) (M, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if n := r.find(topic); n != nil && n.set {
		return n.val, true
	}
	var zero M
	return zero, false
}

// Delete removes the value of topic and prunes the nodes left empty. It
// reports whether there was one.
func (r *Retained[M]) Delete(topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.find(topic)
	if n == nil || !n.set {
		return false
	}
	var zero M
	n.topic, n.val, n.set = "", zero, false
	r.n--
	for n != &r.root && !n.set && len(n.children) == 0 {
		p := n.parent
		delete(p.children, n.key)
		if len(p.children) == 0 {
			p.children = nil
		}
		n.parent = nil
		n = p
	}
	return true
}

// Len returns the number of retained topics.
func (r *Retained[M]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.n
}

// Match calls fn for each stored topic that filter (valid, plain) matches,
// until fn returns false. A '$' topic is not matched by a filter whose first
// level is a wildcard [MQTT-4.7.2-1]. fn runs under the read lock: it must
// not call r's methods, and should only hand the value on (writers wait
// for it). Order is unspecified.
func (r *Retained[M]) Match(filter string, fn func(topic string, m M) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rmatch(&r.root, filter, true, fn)
}

// rmatch visits the nodes below n that the rest of filter matches; it
// returns false once fn asked to stop. first marks the topic's first level.
func rmatch[M any](n *rnode[M], filter string, first bool, fn func(string, M) bool) bool {
	for {
		level, rest, more := strings.Cut(filter, "/")
		switch level {
		case "#":
			// n itself is the parent level "a" of "a/#" [MQTT-4.7.1-2];
			// at the root it holds nothing.
			if n.set && !fn(n.topic, n.val) {
				return false
			}
			for key, c := range n.children {
				if first && strings.HasPrefix(key, "$") {
					continue
				}
				if !rall(c, fn) {
					return false
				}
			}
			return true
		case "+":
			for key, c := range n.children {
				if first && strings.HasPrefix(key, "$") {
					continue
				}
				if more {
					if !rmatch(c, rest, false, fn) {
						return false
					}
				} else if c.set && !fn(c.topic, c.val) {
					return false
				}
			}
			return true
		}
		c := n.children[level]
		if c == nil {
			return true
		}
		if !more {
			return !c.set || fn(c.topic, c.val)
		}
		n, filter, first = c, rest, false
	}
}

// rall visits n and everything below it.
func rall[M any](n *rnode[M], fn func(string, M) bool) bool {
	if n.set && !fn(n.topic, n.val) {
		return false
	}
	for _, c := range n.children {
		if !rall(c, fn) {
			return false
		}
	}
	return true
}

// Walk calls fn for every stored topic until fn returns false, under the
// read lock like Match. Order is unspecified.
func (r *Retained[M]) Walk(fn func(topic string, m M) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rall(&r.root, fn)
}
