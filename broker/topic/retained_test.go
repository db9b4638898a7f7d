package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func retainedTopics(r *Retained[int], filter string) []string {
	var out []string
	r.Match(filter, func(topic string, _ int) bool {
		out = append(out, topic)
		return true
	})
	slices.Sort(out)
	return out
}

func TestRetainedMatchCases(t *testing.T) {
	for _, tc := range matchCases {
		r := NewRetained[int]()
		r.Set(tc.topic, 1)
		got := len(retainedTopics(r, tc.filter)) == 1
		if got != tc.want {
			t.Errorf("retained %q vs %q: %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestRetainedSetGetDelete(t *testing.T) {
	r := NewRetained[string]()
	r.Set("a/b", "1")
	r.Set("a/b", "2")
	r.Set("a", "3")
	r.Set("a/b/c", "4")
	if r.Len() != 3 {
		t.Fatalf("Len=%d, want 3", r.Len())
	}
	if v, ok := r.Get("a/b"); !ok || v != "2" {
		t.Fatalf("Get a/b = %q %v", v, ok)
	}
	if _, ok := r.Get("a/b/c/d"); ok {
		t.Fatal("Get of missing topic found something")
	}
	if _, ok := r.Get("a/x"); ok {
		t.Fatal("Get of missing topic found something")
	}
	if r.Delete("a/x") || r.Delete("a/b/c/d") {
		t.Fatal("Delete of missing topic reported true")
	}
	if !r.Delete("a/b") || r.Delete("a/b") {
		t.Fatal("Delete a/b twice")
	}
	if v, ok := r.Get("a/b/c"); !ok || v != "4" {
		t.Fatal("Delete removed a child")
	}
	r.Delete("a/b/c")
	r.Delete("a")
	if r.Len() != 0 || r.root.children != nil {
		t.Fatalf("not pruned: Len=%d children=%v", r.Len(), r.root.children)
	}
}

func TestRetainedMatchStopAndWalk(t *testing.T) {
	r := NewRetained[int]()
	for i := range 50 {
		r.Set(fmt.Sprintf("s/%d/t", i), i)
	}
	r.Set("$SYS/x", -1)
	for _, f := range []string{"#", "s/#", "s/+/t", "+/+/+"} {
		n := 0
		r.Match(f, func(string, int) bool { n++; return n < 5 })
		if n != 5 {
			t.Fatalf("filter %q: fn called %d times after asking to stop at 5", f, n)
		}
	}
	n := 0
	r.Walk(func(string, int) bool { n++; return true })
	if n != 51 {
		t.Fatalf("Walk visited %d, want 51", n)
	}
	n = 0
	r.Walk(func(string, int) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Walk did not stop: %d", n)
	}
}

// TestRetainedProperty checks Retained.Match against Match on random
// topics and filters.
func TestRetainedProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := NewRetained[int]()
	topics := map[string]bool{}
	for range 400 {
		tp := randTopic(rng)
		r.Set(tp, 0)
		topics[tp] = true
	}
	for range 100 {
		tp := randTopic(rng)
		if r.Delete(tp) != topics[tp] {
			t.Fatalf("Delete(%q) disagrees with the model", tp)
		}
		delete(topics, tp)
	}
	if r.Len() != len(topics) {
		t.Fatalf("Len=%d, want %d", r.Len(), len(topics))
	}
	for range 400 {
		f := randFilter(rng)
		var want []string
		for tp := range topics {
			if Match(f, tp) {
				want = append(want, tp)
			}
		}
		slices.Sort(want)
		if got := retainedTopics(r, f); !slices.Equal(got, want) {
			t.Fatalf("filter %q: got %q, want %q", f, got, want)
		}
	}
}
