package topic

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// refValidateFilter is a slow, independent restatement of the filter rules
// built on strings.Split, to cross-check ValidateFilter.
func refValidateFilter(f string) bool {
	if f == "" || len(f) > MaxLen || !utf8.ValidString(f) || strings.ContainsRune(f, 0) {
		return false
	}
	if strings.HasPrefix(f, "$share/") {
		parts := strings.SplitN(f, "/", 3)
		if len(parts) < 3 || parts[1] == "" || strings.ContainsAny(parts[1], "+#") || parts[2] == "" {
			return false
		}
		f = parts[2]
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return false
		}
		if strings.Contains(l, "+") && l != "+" {
			return false
		}
	}
	return true
}

func FuzzValidateFilter(f *testing.F) {
	for _, s := range []string{"a/b", "#", "+/+", "$share/g/a/#", "$share//a", "a/#/b", "a+", "\xc0\xaf", "a\x00", "$share/g", "/", "$SYS/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateFilter([]byte(s), 0)
		if (err == nil) != refValidateFilter(s) {
			t.Fatalf("ValidateFilter(%q) = %v, reference says valid=%v", s, err, refValidateFilter(s))
		}
		terr := ValidateTopicName([]byte(s), 0)
		if terr == nil && err != nil && !(err == ErrBadShare && strings.HasPrefix(s, SharePrefix)) {
			t.Fatalf("%q is a valid topic name but not a valid filter: %v", s, err)
		}
		if terr == nil && strings.ContainsAny(s, "+#") {
			t.Fatalf("topic name %q with wildcard accepted", s)
		}
		if err == nil {
			g, rf, shared := ParseShared(s)
			if shared != strings.HasPrefix(s, SharePrefix) || (shared && (g == "" || rf == "")) {
				t.Fatalf("ParseShared(%q) = %q, %q, %v", s, g, rf, shared)
			}
			// The levels counted with a limit agree with strings.Count.
			n := strings.Count(rf, "/") + 1
			if ValidateFilter([]byte(s), n) != nil || (n > 1 && ValidateFilter([]byte(s), n-1) != ErrTooManyLevels) {
				t.Fatalf("level limit on %q (%d levels) wrong", s, n)
			}
		}
	})
}

// FuzzMatch checks the trie and the retained index against Match for a
// fuzzed filter and topic, beside a few fixed filters, and that invalid
// input never panics.
func FuzzMatch(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.filter, tc.topic)
	}
	f.Add("$share/g/a/+", "a/b")
	fixed := []string{"#", "+", "+/#", "a/#", "+/+", "/+", "$SYS/#"}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		_ = Match(filter, topic) // any input: must not panic
		group, rf, _ := ParseShared(filter)
		validFilter := ValidateFilter([]byte(filter), 0) == nil
		validTopic := ValidateTopicName([]byte(topic), 0) == nil

		tr := NewTrie[*sub]()
		subs := newSubs(len(fixed) + 1)
		for i, ff := range fixed {
			tr.Subscribe(ff, "", Entry[*sub]{Sub: subs[i]})
		}
		if validFilter {
			tr.Subscribe(rf, group, Entry[*sub]{Sub: subs[len(fixed)]})
		}
		got, groups := tr.Match([]byte(topic), nil, nil) // any topic: must not panic
		if !validFilter || !validTopic {
			return
		}
		var want []int
		for i, ff := range fixed {
			if Match(ff, topic) {
				want = append(want, i)
			}
		}
		m := Match(rf, topic)
		if m && group == "" {
			want = append(want, len(fixed))
		}
		if g := ids(got); !slices.Equal(g, want) {
			t.Fatalf("trie: topic %q filter %q: got %v, want %v", topic, filter, g, want)
		}
		if wantG := m && group != ""; (len(groups) == 1) != wantG || len(groups) > 1 {
			t.Fatalf("trie: topic %q filter %q: %d groups, want match=%v", topic, filter, len(groups), wantG)
		}

		r := NewRetained[int]()
		r.Set(topic, 1)
		n := 0
		r.Match(rf, func(string, int) bool { n++; return true })
		if (n == 1) != m || n > 1 {
			t.Fatalf("retained: topic %q filter %q: %d, want match=%v", topic, rf, n, m)
		}
		tr.Unsubscribe(rf, group, subs[len(fixed)])
		for i, ff := range fixed {
			tr.Unsubscribe(ff, "", subs[i])
		}
		if tr.nodes != 0 {
			t.Fatalf("nodes=%d after unsubscribing all", tr.nodes)
		}
		r.Delete(topic)
		if r.root.children != nil {
			t.Fatal("retained not pruned")
		}
	})
}
