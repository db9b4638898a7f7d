package topic

import "testing"

func TestHas(t *testing.T) {
	tr := NewTrie[int]()
	tr.Subscribe("a/+/c", "", Entry[int]{Sub: 1})
	tr.Subscribe("a/#", "g", Entry[int]{Sub: 2})
	for _, tc := range []struct {
		filter, group string
		want          bool
	}{
		{"a/+/c", "", true},
		{"a/+", "", false},
		{"a/b/c", "", false},
		{"a/+/c", "g", false},
		{"a/#", "g", true},
		{"a/#", "", false},
		{"a/#", "h", false},
		{"a", "", false},
		{"x/y", "", false},
	} {
		if got := tr.Has(tc.filter, tc.group); got != tc.want {
			t.Errorf("Has(%q, %q) = %v, want %v", tc.filter, tc.group, got, tc.want)
		}
	}
	tr.Unsubscribe("a/#", "g", 2)
	tr.Unsubscribe("a/+/c", "", 1)
	if tr.Has("a/#", "g") || tr.Has("a/+/c", "") {
		t.Fatal("Has after the last unsubscribe")
	}
}
