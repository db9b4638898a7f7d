package topic

import "sync/atomic"

// Group is a shared subscription group: the subscribers of
// "$share/{name}/{filter}", among which each matching message goes to one
// (§4.8.2). The trie owns its membership; the broker reads it with Pick
// and Members, without any lock, even after the group has left the trie (it
// is then empty, or stale by one change, which is harmless).
type Group[S comparable] struct {
	name, filter string
	// members is replaced, never modified, by the trie's writers (who hold
	// its write lock): readers load it and iterate without locking.
	members atomic.Pointer[[]Entry[S]]
	// next is the index Pick tries first, modulo the member count.
	next atomic.Uint64
}

// Name returns the share name (the {group} of the filter).
func (g *Group[S]) Name() string { return g.name }

// Filter returns the real filter, without the "$share/{group}/" prefix.
func (g *Group[S]) Filter() string { return g.filter }

// Members returns the current members. The slice is shared and read-only:
// do not modify it. It is the broker's list for re-dispatching a message
// when the picked member could not take it.
func (g *Group[S]) Members() []Entry[S] {
	if p := g.members.Load(); p != nil {
		return *p
	}
	return nil
}

// Len returns the number of members.
func (g *Group[S]) Len() int { return len(g.Members()) }

// Pick chooses the member to receive the next message: round-robin,
// starting after the last pick, skipping members for which ok returns false
// (offline, or no room in their queue); a nil ok accepts everyone. It
// returns false when no member is acceptable. Concurrent callers get
// different starting points, so they spread over the members; under
// contention the order is approximately, not strictly, round-robin.
func (g *Group[S]) Pick(ok func(S) bool) (Entry[S], bool) {
	m := g.Members()
	n := uint64(len(m))
	if n == 0 {
		return Entry[S]{}, false
	}
	start := (g.next.Add(1) - 1) % n
	for k := uint64(0); k < n; k++ {
		j := start + k
		if j >= n {
			j -= n
		}
		if ok == nil || ok(m[j].Sub) {
			if k > 0 {
				// Skipped k members: move the cursor past the one picked,
				// so the next Pick starts after it.
				g.next.Add(k)
			}
			return m[j], true
		}
	}
	return Entry[S]{}, false
}

// set adds or replaces e (copy on write). Callers hold the trie's write lock.
func (g *Group[S]) set(e Entry[S]) (existed bool) {
	old := g.Members()
	for i := range old {
		if old[i].Sub == e.Sub {
			m := append([]Entry[S](nil), old...)
			m[i] = e
			g.members.Store(&m)
			return true
		}
	}
	m := make([]Entry[S], len(old), len(old)+1)
	copy(m, old)
	m = append(m, e)
	g.members.Store(&m)
	return false
}

// drop removes sub, keeping the order of the others (copy on write).
func (g *Group[S]) drop(sub S) (existed bool) {
	old := g.Members()
	for i := range old {
		if old[i].Sub == sub {
			m := make([]Entry[S], 0, len(old)-1)
			m = append(m, old[:i]...)
			m = append(m, old[i+1:]...)
			g.members.Store(&m)
			return true
		}
	}
	return false
}
