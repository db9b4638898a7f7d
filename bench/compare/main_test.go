package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	f := func(r result) float64 { return r.MsgsPerSec }
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{9, 1, 5}, 5}, {[]float64{4, 1, 3, 2}, 2.5}} {
		var rs []result
		for _, v := range tc.in {
			rs = append(rs, result{MsgsPerSec: v})
		}
		if got := median(rs, f); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestLost(t *testing.T) {
	if got := lost([]result{{Expected: 100}, {Expected: 100}}); got != "0" {
		t.Errorf("no loss: %q", got)
	}
	got := lost([]result{{Expected: 1000, Lost: 10, Errors: []string{"x"}}, {Expected: 1000}})
	if got != "10 (0.50%) [1 run(s) with errors]" {
		t.Errorf("loss: %q", got)
	}
}

func TestMatchesAndScenarios(t *testing.T) {
	if !matches("fanin q1 16B", "pairs, q1 16") || matches("fanin q0 1KB", "q1,pairs") || matches("x", " , ") {
		t.Error("matches")
	}
	s := scenarios(100)
	if len(s) != 15 || s[len(s)-1].name != "conns 100 idle" {
		t.Fatalf("%d scenarios, last %q", len(s), s[len(s)-1].name)
	}
	seen := map[string]bool{}
	for _, sc := range s {
		if seen[sc.name] {
			t.Errorf("duplicate scenario %q", sc.name)
		}
		seen[sc.name] = true
	}
}

func TestMarkdownTable(t *testing.T) {
	var b bytes.Buffer
	mdTable(&b, []string{"scenario", "µs/msg"}, [][]string{{"a", "1.5"}, {"longer name", "10.25"}})
	want := "" +
		"| scenario    | µs/msg |\n" +
		"| ----------- | -----: |\n" +
		"| a           |    1.5 |\n" +
		"| longer name |  10.25 |\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	if strings.Count(b.String(), "\n") != 4 {
		t.Fatal("lines")
	}
}
