package main

import "testing"

func TestHeaderRoundTrip(t *testing.T) {
	b := make([]byte, 20)
	putHeader(b, 7, 0xfffffffe, -5)
	pub, seq, at, ok := getHeader(b)
	if !ok || pub != 7 || seq != 0xfffffffe || at != -5 {
		t.Fatalf("got %d %d %d %v", pub, seq, at, ok)
	}
	if _, _, _, ok := getHeader(b[:headerSize-1]); ok {
		t.Fatal("short payload accepted")
	}
}

func TestSeqTracker(t *testing.T) {
	type obs struct {
		seq uint32
		dup bool
	}
	for _, tc := range []struct {
		name                        string
		in                          []obs
		sent                        uint64
		next, recv, gaps, dups, ooo uint64
		lost                        uint64
	}{
		{name: "in order", in: []obs{{0, false}, {1, false}, {2, false}}, sent: 3,
			next: 3, recv: 3},
		{name: "tail lost", in: []obs{{0, false}, {1, false}}, sent: 5,
			next: 2, recv: 2, lost: 3},
		{name: "gap", in: []obs{{0, false}, {3, false}, {4, false}}, sent: 5,
			next: 5, recv: 3, gaps: 2, lost: 2},
		{name: "head lost", in: []obs{{2, false}}, sent: 3,
			next: 3, recv: 1, gaps: 2, lost: 2},
		{name: "redelivery", in: []obs{{0, false}, {1, false}, {1, true}, {2, false}}, sent: 3,
			next: 3, recv: 3, dups: 1},
		{name: "reordered", in: []obs{{0, false}, {2, false}, {1, false}}, sent: 3,
			next: 3, recv: 3, ooo: 1},
		{name: "redelivered gap filler is still a dup", in: []obs{{0, false}, {2, false}, {1, true}}, sent: 3,
			next: 3, recv: 2, gaps: 1, dups: 1, lost: 1},
		{name: "more received than sent", in: []obs{{0, false}, {1, false}, {0, false}}, sent: 2,
			next: 2, recv: 3, ooo: 1},
		{name: "nothing", sent: 4, lost: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s seqTracker
			for _, o := range tc.in {
				s.observe(o.seq, o.dup)
			}
			if s.next != tc.next || s.recv != tc.recv || s.gaps != tc.gaps || s.dups != tc.dups || s.ooo != tc.ooo {
				t.Errorf("got next %d recv %d gaps %d dups %d ooo %d, want %d %d %d %d %d",
					s.next, s.recv, s.gaps, s.dups, s.ooo, tc.next, tc.recv, tc.gaps, tc.dups, tc.ooo)
			}
			if got := s.lost(tc.sent); got != tc.lost {
				t.Errorf("lost(%d) = %d, want %d", tc.sent, got, tc.lost)
			}
		})
	}
}

func TestCredit(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		sent, delivered, acked uint64
		base                   uint64
		window, inflight       int
		qos                    byte
		want                   int
	}{
		{name: "fresh", window: 100, inflight: 10, want: 100},
		{name: "fresh qos1", window: 100, inflight: 10, qos: 1, want: 10},
		{name: "window partly used", sent: 60, delivered: 20, window: 100, want: 60},
		{name: "window full", sent: 120, delivered: 20, window: 100, want: 0},
		{name: "over the window", sent: 130, delivered: 20, window: 100, want: 0},
		{name: "delivered ahead of sent", sent: 10, delivered: 12, window: 100, want: 100},
		{name: "no subscribers", sent: 1000, delivered: ^uint64(0), window: 100, want: 100},
		{name: "qos1 acks bind", sent: 60, delivered: 50, acked: 5, window: 100, inflight: 64, qos: 1, want: 9},
		{name: "qos1 window binds", sent: 60, delivered: 0, acked: 60, window: 100, inflight: 64, qos: 1, want: 40},
		{name: "qos0 ignores acks", sent: 60, delivered: 50, acked: 0, window: 100, inflight: 4, want: 90},
		{name: "base after a stall", sent: 500, delivered: 380, base: 500, window: 100, want: 100},
		{name: "delivered past base", sent: 700, delivered: 650, base: 500, window: 100, want: 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := credit(tc.sent, tc.delivered, tc.acked, tc.base, tc.window, tc.inflight, tc.qos); got != tc.want {
				t.Errorf("credit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestWindowSplit(t *testing.T) {
	for _, tc := range []struct{ window, pubs, want int }{
		{500, 1, 500}, {500, 100, 5}, {500, 1000, 1}, {500, 0, 500}, {7, 2, 3},
	} {
		if got := perPublisherWindow(tc.window, tc.pubs); got != tc.want {
			t.Errorf("perPublisherWindow(%d, %d) = %d, want %d", tc.window, tc.pubs, got, tc.want)
		}
	}
	for _, tc := range []struct{ window, want int }{{1, 1}, {3, 1}, {5, 2}, {16, 8}, {500, 250}, {10000, 256}} {
		if got := minBatch(tc.window); got != tc.want {
			t.Errorf("minBatch(%d) = %d, want %d", tc.window, got, tc.want)
		}
	}
}
