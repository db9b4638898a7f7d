package topic

import "bytes"

// Match appends to subs every normal entry whose filter matches topic, and
// to groups every shared group whose filter matches, and returns both
// slices. A subscriber with overlapping filters appears once per filter;
// merging them (maximum QoS, every subscription identifier) is the broker's
// choice (§3.3.4). With enough capacity in subs and groups it allocates
// nothing: the topic is walked as bytes, and map lookups by string(level)
// do not copy.
//
// The returned groups are live: call Pick on them after Match returns.
func (t *Trie[S]) Match(topic []byte, subs []Entry[S], groups []*Group[S]) ([]Entry[S], []*Group[S]) {
	// [MQTT-4.7.2-1]: a '$' topic is not matched by a wildcard first level.
	dollar := len(topic) > 0 && topic[0] == '$'
	t.mu.RLock()
	subs, groups = match(&t.root, topic, dollar, subs, groups)
	t.mu.RUnlock()
	return subs, groups
}

// match collects the entries below n for topic, the levels not yet
// consumed. It follows the literal path in a loop and recurses only into
// '+' branches, so the stack depth is bounded by the filters, not the topic.
// noWild suppresses the wildcard children of n (the '$' rule at level one).
func match[S comparable](n *node[S], topic []byte, noWild bool, subs []Entry[S], groups []*Group[S]) ([]Entry[S], []*Group[S]) {
	for {
		level, rest := topic, []byte(nil)
		i := bytes.IndexByte(topic, '/')
		more := i >= 0
		if more {
			level, rest = topic[:i], topic[i+1:]
		}
		if !noWild {
			if n.hash != nil {
				// '#' matches this level and everything below.
				subs, groups = collect(n.hash, subs, groups)
			}
			if p := n.plus; p != nil {
				if more {
					subs, groups = match(p, rest, false, subs, groups)
				} else {
					subs, groups = collectLeaf(p, subs, groups)
				}
			}
		}
		c := n.children[string(level)]
		if c == nil {
			return subs, groups
		}
		if !more {
			return collectLeaf(c, subs, groups)
		}
		n, topic, noWild = c, rest, false
	}
}

// collectLeaf collects n, the node of the topic's last level, and its '#'
// child, which matches the parent level too [MQTT-4.7.1-2].
func collectLeaf[S comparable](n *node[S], subs []Entry[S], groups []*Group[S]) ([]Entry[S], []*Group[S]) {
	subs, groups = collect(n, subs, groups)
	if n.hash != nil {
		subs, groups = collect(n.hash, subs, groups)
	}
	return subs, groups
}

func collect[S comparable](n *node[S], subs []Entry[S], groups []*Group[S]) ([]Entry[S], []*Group[S]) {
	subs = append(subs, n.subs...)
	groups = append(groups, n.groups...)
	return subs, groups
}
