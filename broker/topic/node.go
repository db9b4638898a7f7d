package topic

// node is one level of the subscription trie. Literal levels live in
// children; the wildcards get their own fields so Match never has to look
// them up by name.
type node[S comparable] struct {
	parent   *node[S]
	key      string // this node's level as its parent knows it ("+", "#" or literal)
	children map[string]*node[S]
	plus     *node[S]
	hash     *node[S]

	// subs holds the normal subscriptions whose filter ends here, in no
	// order, so Match copies them with one append. idx maps Sub to its
	// position once the slice is long enough for a scan to hurt.
	subs []Entry[S]
	idx  map[S]int

	// groups holds the shared groups whose real filter ends here. A filter
	// rarely has more than a few, so they are found by a scan.
	groups []*Group[S]
}

// indexAt is the entry count above which a node keeps idx.
const indexAt = 8

func (n *node[S]) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// child returns the child for level, creating it when create is set.
func (n *node[S]) child(level string, create bool) (c *node[S], created bool) {
	switch level {
	case "+":
		c = n.plus
	case "#":
		c = n.hash
	default:
		c = n.children[level]
	}
	if c != nil || !create {
		return c, false
	}
	c = &node[S]{parent: n, key: level}
	switch level {
	case "+":
		n.plus = c
	case "#":
		n.hash = c
	default:
		if n.children == nil {
			n.children = make(map[string]*node[S])
		}
		n.children[level] = c
	}
	return c, true
}

// unlink removes child c from n.
func (n *node[S]) unlink(c *node[S]) {
	switch {
	case n.plus == c:
		n.plus = nil
	case n.hash == c:
		n.hash = nil
	default:
		delete(n.children, c.key)
		if len(n.children) == 0 {
			n.children = nil
		}
	}
}

// find returns the position of sub in n.subs, or -1.
func (n *node[S]) find(sub S) int {
	if n.idx != nil {
		if i, ok := n.idx[sub]; ok {
			return i
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].Sub == sub {
			return i
		}
	}
	return -1
}

func (n *node[S]) add(e Entry[S]) {
	n.subs = append(n.subs, e)
	switch {
	case n.idx != nil:
		n.idx[e.Sub] = len(n.subs) - 1
	case len(n.subs) > indexAt:
		n.idx = make(map[S]int, len(n.subs))
		for i := range n.subs {
			n.idx[n.subs[i].Sub] = i
		}
	}
}

// remove deletes n.subs[i] by moving the last entry into its place.
func (n *node[S]) remove(i int) {
	last := len(n.subs) - 1
	if n.idx != nil {
		delete(n.idx, n.subs[i].Sub)
		if i != last {
			n.idx[n.subs[last].Sub] = i
		}
	}
	n.subs[i] = n.subs[last]
	n.subs[last] = Entry[S]{} // drop the reference for the GC
	n.subs = n.subs[:last]
	switch {
	case last == 0:
		n.subs, n.idx = nil, nil
	case cap(n.subs) > 64 && cap(n.subs) > 4*last:
		// A big fan-out that emptied out: give the memory back.
		n.subs = append(make([]Entry[S], 0, 2*last), n.subs...)
	}
	if n.idx != nil && last <= indexAt/2 {
		n.idx = nil
	}
}

func (n *node[S]) group(name string) (int, *Group[S]) {
	for i, g := range n.groups {
		if g.name == name {
			return i, g
		}
	}
	return -1, nil
}
