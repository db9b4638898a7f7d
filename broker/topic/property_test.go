package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// Levels small enough that random filters and topics often overlap,
// including empty levels and '$' first levels.
var topicLevels = []string{"a", "b", "c", "", "$s", "\u00e9"}

func randTopic(rng *rand.Rand) string {
	n := 1 + rng.IntN(4)
	ls := make([]string, n)
	for i := range ls {
		ls[i] = topicLevels[rng.IntN(len(topicLevels))]
	}
	return join(ls...)
}

func randFilter(rng *rand.Rand) string {
	n := 1 + rng.IntN(4)
	ls := make([]string, n)
	for i := range ls {
		switch x := rng.IntN(10); {
		case x < 3:
			ls[i] = "+"
		case x == 3 && i == n-1:
			ls[i] = "#"
		default:
			ls[i] = topicLevels[rng.IntN(len(topicLevels))]
		}
	}
	return join(ls...)
}

type sharedKey struct{ group, filter string }

// TestTrieProperty: after random subscribes and unsubscribes, Trie.Match
// must return exactly what Match says of each live subscription.
func TestTrieProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := NewTrie[*sub]()
	subs := newSubs(30)
	type key struct {
		filter, group string
		s             *sub
	}
	live := map[key]bool{}
	for range 3000 {
		k := key{randFilter(rng), "", subs[rng.IntN(len(subs))]}
		if rng.IntN(5) == 0 {
			k.group = fmt.Sprint("g", rng.IntN(3))
		}
		if rng.IntN(3) == 0 {
			existed, last := tr.Unsubscribe(k.filter, k.group, k.s)
			if existed != live[k] {
				t.Fatalf("Unsubscribe %v: existed=%v, model %v", k, existed, live[k])
			}
			delete(live, k)
			if existed {
				still := false
				for o := range live {
					still = still || (o.filter == k.filter && o.group == k.group)
				}
				if last == still {
					t.Fatalf("Unsubscribe %v: last=%v, others remain=%v", k, last, still)
				}
			}
			continue
		}
		had := false
		for o := range live {
			had = had || (o.filter == k.filter && o.group == k.group)
		}
		existed, first := tr.Subscribe(k.filter, k.group, Entry[*sub]{Sub: k.s})
		if existed != live[k] || first != !had {
			t.Fatalf("Subscribe %v: existed=%v first=%v, model %v %v", k, existed, first, live[k], !had)
		}
		live[k] = true
	}
	if tr.Count() != len(live) {
		t.Fatalf("Count=%d, want %d", tr.Count(), len(live))
	}
	var out []Entry[*sub]
	var gout []*Group[*sub]
	for range 3000 {
		topic := randTopic(rng)
		var want []int
		wantGroups := map[sharedKey][]int{}
		for k := range live {
			if !Match(k.filter, topic) {
				continue
			}
			if k.group == "" {
				want = append(want, k.s.id)
			} else {
				sk := sharedKey{k.group, k.filter}
				wantGroups[sk] = append(wantGroups[sk], k.s.id)
			}
		}
		slices.Sort(want)
		out, gout = tr.Match([]byte(topic), out[:0], gout[:0])
		if got := ids(out); !slices.Equal(got, want) {
			t.Fatalf("topic %q: got %v, want %v", topic, got, want)
		}
		if len(gout) != len(wantGroups) {
			t.Fatalf("topic %q: %d groups, want %d", topic, len(gout), len(wantGroups))
		}
		for _, g := range gout {
			w := wantGroups[sharedKey{g.Name(), g.Filter()}]
			slices.Sort(w)
			if got := ids(g.Members()); !slices.Equal(got, w) {
				t.Fatalf("topic %q group %s|%s: members %v, want %v", topic, g.Name(), g.Filter(), got, w)
			}
		}
	}
	for k := range live {
		tr.Unsubscribe(k.filter, k.group, k.s)
	}
	if tr.nodes != 0 || tr.Count() != 0 || tr.FilterCount() != 0 {
		t.Fatalf("not empty after unsubscribing all: nodes=%d", tr.nodes)
	}
}

// TestConcurrent runs subscribers, unsubscribers, matchers, pickers and
// retained readers and writers at once; run it with -race. The invariant
// checked while racing: a filter subscribed by a goroutine for its whole
// life is always matched.
func TestConcurrent(t *testing.T) {
	tr := NewTrie[*sub]()
	r := NewRetained[int]()
	anchor := &sub{id: -1}
	tr.Subscribe("x/#", "", Entry[*sub]{Sub: anchor})
	const workers, rounds = 4, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			subs := newSubs(8)
			var out []Entry[*sub]
			var gout []*Group[*sub]
			for range rounds {
				f := "x/" + randFilter(rng)
				s := subs[rng.IntN(len(subs))]
				g := ""
				if rng.IntN(3) == 0 {
					g = "g"
				}
				tr.Subscribe(f, g, Entry[*sub]{Sub: s})
				topic := "x/" + randTopic(rng)
				r.Set(topic, w)
				out, gout = tr.Match([]byte(topic), out[:0], gout[:0])
				if !slices.ContainsFunc(out, func(e Entry[*sub]) bool { return e.Sub == anchor }) {
					errs <- fmt.Errorf("topic %q lost the anchor subscription", topic)
					return
				}
				for _, gr := range gout {
					gr.Pick(func(*sub) bool { return rng.IntN(2) == 0 })
					_ = gr.Members()
				}
				r.Match("x/+/#", func(string, int) bool { return true })
				r.Delete("x/" + randTopic(rng))
				tr.Unsubscribe(f, g, s)
				_ = tr.Count() + tr.FilterCount()
			}
			n := 0
			tr.Walk(func(string, string, Entry[*sub]) { n++ })
			if n < 1 {
				errs <- fmt.Errorf("Walk saw %d entries, want at least the anchor", n)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every worker unsubscribed what it subscribed: only the anchor is left.
	if tr.Count() != 1 {
		t.Fatalf("Count=%d after the race, want 1", tr.Count())
	}
	tr.Unsubscribe("x/#", "", anchor)
	if tr.nodes != 0 {
		t.Fatalf("nodes=%d after the race, want 0", tr.nodes)
	}
}
