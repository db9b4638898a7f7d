package topic

import (
	"fmt"
	"slices"
	"strings"
)

// sub stands for the broker's session pointer.
type sub struct{ id int }

func (s *sub) String() string { return fmt.Sprint("s", s.id) }

func newSubs(n int) []*sub {
	s := make([]*sub, n)
	for i := range s {
		s[i] = &sub{id: i}
	}
	return s
}

// ids returns the sorted ids of the entries, for comparisons.
func ids(es []Entry[*sub]) []int {
	out := make([]int, 0, len(es))
	for _, e := range es {
		out = append(out, e.Sub.id)
	}
	slices.Sort(out)
	return out
}

// groupKeys returns the sorted "name|filter" of the groups.
func groupKeys(gs []*Group[*sub]) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.Name()+"|"+g.Filter())
	}
	slices.Sort(out)
	return out
}

// splitShared is ParseShared for a filter given to a test.
func splitShared(f string) (group, filter string) {
	g, rf, _ := ParseShared(f)
	return g, rf
}

func join(levels ...string) string { return strings.Join(levels, "/") }
