package topic

import "strings"

// Has reports whether filter (the group of it, when group is not "") has at
// least one subscriber. It is the exact-filter lookup the cluster uses to
// settle route announcements that raced each other: whatever order the
// first-subscriber and last-unsubscribe notifications arrive in, asking the
// trie gives the state after both.
func (t *Trie[S]) Has(filter, group string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := &t.root
	for rest, more := filter, true; more; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		if n, _ = n.child(level, false); n == nil {
			return false
		}
	}
	if group == "" {
		return len(n.subs) > 0
	}
	_, g := n.group(group)
	return g != nil && g.Len() > 0
}
