package topic

import (
	"fmt"
	"slices"
	"testing"
)

func TestTrieMatchCases(t *testing.T) {
	for _, tc := range matchCases {
		tr := NewTrie[*sub]()
		s := &sub{id: 1}
		tr.Subscribe(tc.filter, "", Entry[*sub]{Sub: s})
		tr.Subscribe(tc.filter, "g", Entry[*sub]{Sub: s})
		got, groups := tr.Match([]byte(tc.topic), nil, nil)
		if (len(got) == 1) != tc.want || (len(groups) == 1) != tc.want || len(got) > 1 || len(groups) > 1 {
			t.Errorf("trie %q vs %q: %d entries, %d groups, want match=%v", tc.filter, tc.topic, len(got), len(groups), tc.want)
		}
	}
}

// TestTrieMatchAllFilters puts every filter of matchCases in one trie and
// checks each topic against the brute force.
func TestTrieMatchAllFilters(t *testing.T) {
	tr := NewTrie[*sub]()
	var filters []string
	for _, tc := range matchCases {
		if !slices.Contains(filters, tc.filter) {
			tr.Subscribe(tc.filter, "", Entry[*sub]{Sub: &sub{id: len(filters)}})
			filters = append(filters, tc.filter)
		}
	}
	for _, tc := range matchCases {
		var want []int
		for i, f := range filters {
			if Match(f, tc.topic) {
				want = append(want, i)
			}
		}
		got, _ := tr.Match([]byte(tc.topic), nil, nil)
		if g := ids(got); !slices.Equal(g, want) {
			t.Errorf("topic %q: got %v, want %v", tc.topic, g, want)
		}
	}
}

func TestTrieSubscribeFlags(t *testing.T) {
	tr := NewTrie[*sub]()
	s := newSubs(3)
	check := func(what string, existed, first, wantExisted, wantFirst bool) {
		t.Helper()
		if existed != wantExisted || first != wantFirst {
			t.Fatalf("%s: existed=%v first=%v, want %v %v", what, existed, first, wantExisted, wantFirst)
		}
	}
	e, f := tr.Subscribe("a/+", "", Entry[*sub]{Sub: s[0], QoS: 0})
	check("first sub", e, f, false, true)
	e, f = tr.Subscribe("a/+", "", Entry[*sub]{Sub: s[1]})
	check("second sub", e, f, false, false)
	e, f = tr.Subscribe("a/+", "", Entry[*sub]{Sub: s[0], QoS: 2, ID: 7})
	check("replace", e, f, true, false)
	e, f = tr.Subscribe("a/+", "g", Entry[*sub]{Sub: s[0]})
	check("first of group g", e, f, false, true)
	e, f = tr.Subscribe("a/+", "h", Entry[*sub]{Sub: s[0]})
	check("first of group h", e, f, false, true)
	e, f = tr.Subscribe("a/+", "g", Entry[*sub]{Sub: s[2]})
	check("second of group g", e, f, false, false)
	e, f = tr.Subscribe("a/+", "g", Entry[*sub]{Sub: s[2], QoS: 1})
	check("replace in group", e, f, true, false)

	if c, fc := tr.Count(), tr.FilterCount(); c != 5 || fc != 3 {
		t.Fatalf("Count=%d FilterCount=%d, want 5 3", c, fc)
	}
	got, groups := tr.Match([]byte("a/x"), nil, nil)
	if len(got) != 2 || len(groups) != 2 {
		t.Fatalf("Match: %d entries %d groups, want 2 2", len(got), len(groups))
	}
	for _, en := range got {
		if en.Sub == s[0] && (en.QoS != 2 || en.ID != 7) {
			t.Fatalf("replaced entry not updated: %+v", en)
		}
	}
	for _, g := range groups {
		if g.Name() == "g" {
			for _, m := range g.Members() {
				if m.Sub == s[2] && m.QoS != 1 {
					t.Fatalf("replaced member not updated: %+v", m)
				}
			}
		}
	}

	check2 := func(what string, existed, last, wantExisted, wantLast bool) {
		t.Helper()
		if existed != wantExisted || last != wantLast {
			t.Fatalf("%s: existed=%v last=%v, want %v %v", what, existed, last, wantExisted, wantLast)
		}
	}
	e, l := tr.Unsubscribe("a/+", "", s[2])
	check2("never subscribed", e, l, false, false)
	e, l = tr.Unsubscribe("a/b", "", s[0])
	check2("other filter", e, l, false, false)
	e, l = tr.Unsubscribe("a/+", "zz", s[0])
	check2("other group", e, l, false, false)
	e, l = tr.Unsubscribe("a/+", "", s[0])
	check2("not last", e, l, true, false)
	e, l = tr.Unsubscribe("a/+", "", s[1])
	check2("last", e, l, true, true)
	e, l = tr.Unsubscribe("a/+", "", s[1])
	check2("again", e, l, false, false)
	e, l = tr.Unsubscribe("a/+", "g", s[0])
	check2("group not last", e, l, true, false)
	e, l = tr.Unsubscribe("a/+", "g", s[2])
	check2("group last", e, l, true, true)
	e, l = tr.Unsubscribe("a/+", "h", s[0])
	check2("group h last", e, l, true, true)
	if tr.Count() != 0 || tr.FilterCount() != 0 || tr.nodes != 0 {
		t.Fatalf("after all unsubscribes: Count=%d FilterCount=%d nodes=%d", tr.Count(), tr.FilterCount(), tr.nodes)
	}
}

// TestTriePrune subscribes many overlapping filters, normal and shared,
// then unsubscribes everything in another order: no node may be left.
func TestTriePrune(t *testing.T) {
	tr := NewTrie[*sub]()
	subs := newSubs(40)
	filters := []string{"#", "+", "a", "a/#", "a/+", "a/b", "a/b/c", "+/b/#", "/", "//", "a//b", "$SYS/#", "+/+/+/+/d", "a/b/c/d/e/f"}
	type sk struct {
		f, g string
		s    *sub
	}
	var all []sk
	for i, s := range subs {
		for j, f := range filters {
			if (i+j)%3 == 0 {
				continue
			}
			g := ""
			if (i+j)%4 == 1 {
				g = fmt.Sprint("g", j%2)
			}
			tr.Subscribe(f, g, Entry[*sub]{Sub: s})
			all = append(all, sk{f, g, s})
		}
	}
	if tr.Count() != len(all) {
		t.Fatalf("Count=%d, want %d", tr.Count(), len(all))
	}
	if tr.nodes == 0 {
		t.Fatal("no nodes created")
	}
	for i := len(all) - 1; i >= 0; i -= 2 {
		if ok, _ := tr.Unsubscribe(all[i].f, all[i].g, all[i].s); !ok {
			t.Fatalf("unsubscribe %v: not found", all[i])
		}
	}
	for i := len(all) - 2; i >= 0; i -= 2 {
		if ok, _ := tr.Unsubscribe(all[i].f, all[i].g, all[i].s); !ok {
			t.Fatalf("unsubscribe %v: not found", all[i])
		}
	}
	if tr.nodes != 0 || tr.Count() != 0 || tr.FilterCount() != 0 || !tr.root.empty() {
		t.Fatalf("after unsubscribing all: nodes=%d Count=%d FilterCount=%d", tr.nodes, tr.Count(), tr.FilterCount())
	}
}

// TestTrieFanOut exercises the index map of a big node: removals from the
// middle must keep every other entry reachable, and the slice shrinks.
func TestTrieFanOut(t *testing.T) {
	tr := NewTrie[*sub]()
	subs := newSubs(1000)
	for _, s := range subs {
		tr.Subscribe("fan/out", "", Entry[*sub]{Sub: s, QoS: byte(s.id % 3)})
	}
	var want []int
	for _, s := range subs {
		if s.id%7 != 0 {
			tr.Unsubscribe("fan/out", "", s)
		} else {
			want = append(want, s.id)
		}
	}
	got, _ := tr.Match([]byte("fan/out"), nil, nil)
	if !slices.Equal(ids(got), want) {
		t.Fatalf("after removals: got %d entries, want %d", len(got), len(want))
	}
	for _, e := range got {
		if e.QoS != byte(e.Sub.id%3) {
			t.Fatalf("entry %d has QoS %d", e.Sub.id, e.QoS)
		}
	}
	n, _ := tr.root.child("fan", false)
	n, _ = n.child("out", false)
	if cap(n.subs) > 4*len(n.subs) {
		t.Fatalf("slice not shrunk: len %d cap %d", len(n.subs), cap(n.subs))
	}
	// Replacing and removing must still find entries through the index.
	for _, id := range want {
		if existed, _ := tr.Subscribe("fan/out", "", Entry[*sub]{Sub: subs[id], QoS: 2}); !existed {
			t.Fatalf("replace of %d: not found", id)
		}
	}
	for _, id := range want {
		if ok, _ := tr.Unsubscribe("fan/out", "", subs[id]); !ok {
			t.Fatalf("unsubscribe of %d: not found", id)
		}
	}
	if tr.nodes != 0 {
		t.Fatalf("nodes=%d after emptying", tr.nodes)
	}
}

func TestTrieWalk(t *testing.T) {
	tr := NewTrie[*sub]()
	s := newSubs(3)
	want := map[string]bool{}
	add := func(f, g string, sb *sub) {
		tr.Subscribe(f, g, Entry[*sub]{Sub: sb})
		want[fmt.Sprintf("%s|%s|%d", f, g, sb.id)] = true
	}
	add("a/b", "", s[0])
	add("a/b", "", s[1])
	add("a/+/c", "", s[0])
	add("#", "", s[2])
	add("/", "", s[2])
	add("/x/#", "grp", s[1])
	add("a/b", "grp", s[2])
	add("$SYS/+", "", s[0])
	got := map[string]bool{}
	tr.Walk(func(filter, group string, e Entry[*sub]) {
		got[fmt.Sprintf("%s|%s|%d", filter, group, e.Sub.id)] = true
	})
	if len(got) != len(want) {
		t.Fatalf("Walk got %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("Walk missed %s (got %v)", k, got)
		}
	}
}

func TestTrieShared(t *testing.T) {
	tr := NewTrie[*sub]()
	s := newSubs(4)
	for _, f := range []string{"$share/g1/a/+", "$share/g1/a/b", "$share/g2/a/+", "$share/g1/#", "a/+"} {
		g, rf := splitShared(f)
		for _, sb := range s[:2] {
			tr.Subscribe(rf, g, Entry[*sub]{Sub: sb})
		}
	}
	subs, groups := tr.Match([]byte("a/b"), nil, nil)
	if got, want := groupKeys(groups), []string{"g1|#", "g1|a/+", "g1|a/b", "g2|a/+"}; !slices.Equal(got, want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	if len(subs) != 2 {
		t.Fatalf("normal entries %d, want 2", len(subs))
	}
	_, groups = tr.Match([]byte("$SYS/x"), nil, nil)
	if len(groups) != 0 {
		t.Fatalf("$SYS topic matched shared groups %v [MQTT-4.7.2-1]", groupKeys(groups))
	}
	// A group left behind by the trie is empty, not broken.
	_, groups = tr.Match([]byte("a/b"), nil, groups[:0])
	var g1b *Group[*sub]
	for _, g := range groups {
		if g.Name() == "g1" && g.Filter() == "a/b" {
			g1b = g
		}
	}
	tr.Unsubscribe("a/b", "g1", s[0])
	tr.Unsubscribe("a/b", "g1", s[1])
	if _, ok := g1b.Pick(nil); ok || g1b.Len() != 0 {
		t.Fatal("removed group still picks")
	}
}

func TestTrieMatchAllocs(t *testing.T) {
	tr := NewTrie[*sub]()
	subs := newSubs(100)
	for i, s := range subs {
		tr.Subscribe(fmt.Sprintf("dev/%d/+", i%10), "", Entry[*sub]{Sub: s})
		tr.Subscribe("dev/#", "", Entry[*sub]{Sub: s})
		tr.Subscribe(fmt.Sprintf("dev/%d/temp", i%10), fmt.Sprint("g", i%3), Entry[*sub]{Sub: s})
	}
	topic := []byte("dev/3/temp")
	out := make([]Entry[*sub], 0, 256)
	gout := make([]*Group[*sub], 0, 16)
	var n, ng int
	allocs := testing.AllocsPerRun(200, func() {
		o, g := tr.Match(topic, out[:0], gout[:0])
		n, ng = len(o), len(g)
	})
	if allocs != 0 {
		t.Fatalf("Match allocates %v times per run, want 0", allocs)
	}
	if n != 110 || ng != 3 {
		t.Fatalf("Match found %d entries, %d groups; want 110, 3", n, ng)
	}
	g := tr.root.children["dev"].children["3"].children["temp"].groups[0]
	if allocs := testing.AllocsPerRun(200, func() {
		g.Pick(func(*sub) bool { return true })
		g.Members()
	}); allocs != 0 {
		t.Fatalf("Pick allocates %v times per run, want 0", allocs)
	}
}
