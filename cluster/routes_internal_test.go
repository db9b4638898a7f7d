package cluster

import (
	"slices"
	"testing"

	clusterpb "github.com/mqttio/mqttio/proto"
)

func TestRouteTableDeltaOrder(t *testing.T) {
	tab := newRouteTable()
	mb := &member{name: "n2#1", nodeID: "n2"}
	tab.add(mb)
	delta := func(v uint64, add bool, f string) *clusterpb.RouteDelta {
		return &clusterpb.RouteDelta{Member: mb.name, Version: v, Add: add, Filter: f}
	}
	has := func(topic string) bool {
		e, _ := tab.trie.Match([]byte(topic), nil, nil)
		return len(e) > 0
	}
	// 2 and 3 arrive before 1: held back, then applied in order.
	tab.applyDelta(delta(2, false, "a/+"))
	tab.applyDelta(delta(3, true, "b/#"))
	if has("b/x") || mb.applied != 0 {
		t.Fatal("applied out of order")
	}
	tab.applyDelta(delta(1, true, "a/+"))
	if mb.applied != 3 || has("a/x") || !has("b/x") || len(mb.pending) != 0 {
		t.Fatalf("after 1: applied %d, a/x %v, b/x %v, pending %d", mb.applied, has("a/x"), has("b/x"), len(mb.pending))
	}
	// Duplicates and deltas of unknown members change nothing.
	tab.applyDelta(delta(1, true, "a/+"))
	tab.applyDelta(&clusterpb.RouteDelta{Member: "other", Version: 4, Add: true, Filter: "c"})
	if has("a/x") || has("c") || tab.count.Load() != 1 {
		t.Fatal("duplicate or foreign delta applied")
	}
	if mb.hash != digestOf([]Route{{"b/#", ""}}) {
		t.Fatal("hash does not match the table")
	}

	// A pulled table older than what is applied is ignored; a newer one
	// replaces the table and pending deltas beyond it then apply.
	if tab.replace(mb, 2, []Route{{"z", ""}}) || has("z") {
		t.Fatal("older table installed")
	}
	tab.applyDelta(delta(6, true, "d"))
	if !tab.replace(mb, 5, []Route{{"b/#", ""}, {"c/+", "g"}}) {
		t.Fatal("newer table not installed")
	}
	if mb.applied != 6 || !has("d") || !has("b/1") {
		t.Fatalf("after replace: applied %d, d %v", mb.applied, has("d"))
	}
	if _, groups := tab.trie.Match([]byte("c/1"), nil, nil); len(groups) != 1 || groups[0].Name() != "g" {
		t.Fatal("shared route missing")
	}
	got := tab.routesOf(mb)
	slices.SortFunc(got, func(a, b Route) int {
		if a.Filter < b.Filter {
			return -1
		}
		return 1
	})
	if want := []Route{{"b/#", ""}, {"c/+", "g"}, {"d", ""}}; !slices.Equal(got, want) {
		t.Fatalf("routes %v, want %v", got, want)
	}

	// A dead member's routes go at once.
	tab.remove(mb.name)
	if has("b/1") || has("d") || tab.count.Load() != 0 || mb.alive.Load() {
		t.Fatal("routes of a removed member still match")
	}
}
