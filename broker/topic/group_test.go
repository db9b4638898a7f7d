package topic

import (
	"slices"
	"sync"
	"testing"
)

func groupOf(t *testing.T, n int) (*Trie[*sub], *Group[*sub], []*sub) {
	t.Helper()
	tr := NewTrie[*sub]()
	s := newSubs(n)
	for _, sb := range s {
		tr.Subscribe("jobs/#", "workers", Entry[*sub]{Sub: sb})
	}
	_, gs := tr.Match([]byte("jobs/1"), nil, nil)
	if len(gs) != 1 {
		t.Fatalf("want one group, got %d", len(gs))
	}
	return tr, gs[0], s
}

func pickIDs(g *Group[*sub], n int, ok func(*sub) bool) []int {
	var out []int
	for range n {
		e, found := g.Pick(ok)
		if !found {
			out = append(out, -1)
			continue
		}
		out = append(out, e.Sub.id)
	}
	return out
}

func TestGroupRoundRobin(t *testing.T) {
	_, g, _ := groupOf(t, 3)
	if got, want := pickIDs(g, 7, nil), []int{0, 1, 2, 0, 1, 2, 0}; !slices.Equal(got, want) {
		t.Fatalf("picks %v, want %v", got, want)
	}
}

func TestGroupSkip(t *testing.T) {
	_, g, _ := groupOf(t, 4)
	offline := map[int]bool{1: true, 2: true}
	ok := func(s *sub) bool { return !offline[s.id] }
	// After picking 0 the cursor is at 1: 1 and 2 are skipped, 3 is picked,
	// and the next pick starts after 3.
	if got, want := pickIDs(g, 5, ok), []int{0, 3, 0, 3, 0}; !slices.Equal(got, want) {
		t.Fatalf("picks %v, want %v", got, want)
	}
	offline[0], offline[3] = true, true
	if got := pickIDs(g, 2, ok); !slices.Equal(got, []int{-1, -1}) {
		t.Fatalf("all offline: picks %v, want none", got)
	}
	offline[2] = false
	if got := pickIDs(g, 3, ok); !slices.Equal(got, []int{2, 2, 2}) {
		t.Fatalf("one online: picks %v", got)
	}
}

func TestGroupStartsAfterLastPick(t *testing.T) {
	_, g, _ := groupOf(t, 5)
	g.Pick(nil) // 0
	// 1 refuses once: 2 is picked; the next pick must be 3, not 2 again.
	refused := false
	e, _ := g.Pick(func(s *sub) bool {
		if s.id == 1 && !refused {
			refused = true
			return false
		}
		return true
	})
	if e.Sub.id != 2 {
		t.Fatalf("picked %d, want 2", e.Sub.id)
	}
	if e, _ := g.Pick(nil); e.Sub.id != 3 {
		t.Fatalf("picked %d, want 3", e.Sub.id)
	}
}

func TestGroupMembershipChanges(t *testing.T) {
	tr, g, s := groupOf(t, 3)
	tr.Unsubscribe("jobs/#", "workers", s[1])
	if got := ids(g.Members()); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("members %v", got)
	}
	before := g.Members()
	tr.Subscribe("jobs/#", "workers", Entry[*sub]{Sub: s[1], QoS: 1})
	if len(before) != 2 {
		t.Fatal("Members snapshot changed under the caller")
	}
	if g.Len() != 3 {
		t.Fatalf("Len=%d", g.Len())
	}
	seen := map[int]int{}
	for _, id := range pickIDs(g, 30, nil) {
		seen[id]++
	}
	if seen[0] != 10 || seen[1] != 10 || seen[2] != 10 {
		t.Fatalf("uneven picks %v", seen)
	}
}

// TestGroupConcurrentPick: concurrent callers stay spread over the members.
func TestGroupConcurrentPick(t *testing.T) {
	_, g, s := groupOf(t, 4)
	const workers, per = 4, 1000
	counts := make([][]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		counts[w] = make([]int, len(s))
		wg.Go(func() {
			for range per {
				e, ok := g.Pick(nil)
				if !ok {
					panic("no pick")
				}
				counts[w][e.Sub.id]++
			}
		})
	}
	wg.Wait()
	total := make([]int, len(s))
	for _, c := range counts {
		for i, n := range c {
			total[i] += n
		}
	}
	for i, n := range total {
		if n != workers*per/len(s) {
			t.Fatalf("member %d picked %d times, want %d (%v)", i, n, workers*per/len(s), total)
		}
	}
}
