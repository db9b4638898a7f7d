package topic

import (
	"fmt"
	"testing"
)

// benchTrie returns a trie with n filters built by mk, each with its own
// subscriber.
func benchTrie(n int, mk func(i int) string) *Trie[*sub] {
	tr := NewTrie[*sub]()
	for i, s := range newSubs(n) {
		tr.Subscribe(mk(i), "", Entry[*sub]{Sub: s, QoS: 1})
	}
	return tr
}

func benchMatch(b *testing.B, tr *Trie[*sub], topic string, want int) {
	t := []byte(topic)
	out := make([]Entry[*sub], 0, want)
	gout := make([]*Group[*sub], 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		out, gout = tr.Match(t, out[:0], gout[:0])
	}
	if len(out) != want {
		b.Fatalf("matched %d, want %d", len(out), want)
	}
}

// BenchmarkMatch: one topic against 10 000 filters of each kind.
func BenchmarkMatch(b *testing.B) {
	exact := func(i int) string { return fmt.Sprintf("site/%d/dev/%d/temp", i/100, i%100) }
	plus := func(i int) string { return fmt.Sprintf("site/%d/+/%d/temp", i/100, i%100) }
	hash := func(i int) string { return fmt.Sprintf("site/%d/dev/%d/#", i/100, i%100) }
	b.Run("exact", func(b *testing.B) {
		benchMatch(b, benchTrie(10000, exact), "site/42/dev/7/temp", 1)
	})
	b.Run("plus", func(b *testing.B) {
		benchMatch(b, benchTrie(10000, plus), "site/42/dev/7/temp", 1)
	})
	b.Run("hash", func(b *testing.B) {
		benchMatch(b, benchTrie(10000, hash), "site/42/dev/7/temp", 1)
	})
	b.Run("mixed30k", func(b *testing.B) {
		tr := benchTrie(10000, exact)
		for i, s := range newSubs(10000) {
			tr.Subscribe(plus(i), "", Entry[*sub]{Sub: s})
			tr.Subscribe(hash(i), "", Entry[*sub]{Sub: s})
		}
		benchMatch(b, tr, "site/42/dev/7/temp", 3)
	})
	b.Run("miss", func(b *testing.B) {
		benchMatch(b, benchTrie(10000, exact), "site/42/dev/7/humidity", 0)
	})
}

// BenchmarkMatchParallel: the read lock under concurrent publishers.
func BenchmarkMatchParallel(b *testing.B) {
	tr := benchTrie(10000, func(i int) string { return fmt.Sprintf("site/%d/+/%d/temp", i/100, i%100) })
	t := []byte("site/42/dev/7/temp")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		out := make([]Entry[*sub], 0, 4)
		for pb.Next() {
			out, _ = tr.Match(t, out[:0], nil)
		}
	})
}

// BenchmarkFanOut: one message to 10 000 subscribers of one filter.
func BenchmarkFanOut(b *testing.B) {
	tr := benchTrie(10000, func(int) string { return "news/flash" })
	benchMatch(b, tr, "news/flash", 10000)
}

func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	tr := benchTrie(10000, func(i int) string { return fmt.Sprintf("site/%d/dev/%d/temp", i/100, i%100) })
	s := &sub{}
	b.ReportAllocs()
	for b.Loop() {
		tr.Subscribe("site/42/dev/new/temp", "", Entry[*sub]{Sub: s})
		tr.Unsubscribe("site/42/dev/new/temp", "", s)
	}
}

func BenchmarkGroupPick(b *testing.B) {
	tr := NewTrie[*sub]()
	for _, s := range newSubs(16) {
		tr.Subscribe("jobs/+", "w", Entry[*sub]{Sub: s})
	}
	_, gs := tr.Match([]byte("jobs/1"), nil, nil)
	g := gs[0]
	ok := func(s *sub) bool { return s.id%4 != 0 }
	b.ReportAllocs()
	for b.Loop() {
		g.Pick(ok)
	}
}

// BenchmarkRetainedMatch: 10 000 retained topics.
func BenchmarkRetainedMatch(b *testing.B) {
	r := NewRetained[int]()
	for i := range 10000 {
		r.Set(fmt.Sprintf("site/%d/dev/%d/temp", i/100, i%100), i)
	}
	for _, bc := range []struct {
		filter string
		want   int
	}{
		{"site/42/dev/7/temp", 1},
		{"site/+/dev/7/temp", 100},
		{"site/42/#", 100},
		{"#", 10000},
	} {
		b.Run(bc.filter, func(b *testing.B) {
			n := 0
			fn := func(string, int) bool { n++; return true }
			b.ReportAllocs()
			for b.Loop() {
				n = 0
				r.Match(bc.filter, fn)
			}
			if n != bc.want {
				b.Fatalf("matched %d, want %d", n, bc.want)
			}
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	name := []byte("site/42/dev/7/temp")
	filter := []byte("$share/g/site/+/dev/7/#")
	b.ReportAllocs()
	for b.Loop() {
		_ = ValidateTopicName(name, 0)
		_ = ValidateFilter(filter, 0)
	}
}
