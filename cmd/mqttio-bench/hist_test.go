package main

import (
	"math"
	"testing"
	"time"
)

func TestHistBuckets(t *testing.T) {
	// Every value lies in (upper(i-1), upper(i)] of its bucket i, and the
	// bucket width is at most 1/32 of its values.
	check := func(v int64) {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d, out of range", v, i)
		}
		if hi := histUpper(i); v > hi {
			t.Fatalf("value %d above the upper bound %d of its bucket %d", v, hi, i)
		}
		if i > 0 {
			if lo := histUpper(i - 1); v <= lo {
				t.Fatalf("value %d not above the upper bound %d of bucket %d", v, lo, i-1)
			}
		}
		if hi := histUpper(i); v >= histLinear && hi < math.MaxInt64 && float64(hi-v) > float64(v)/histSub {
			t.Fatalf("bucket of %d too wide: upper %d", v, hi)
		}
	}
	for v := int64(0); v < 5000; v++ {
		check(v)
	}
	for v := int64(5000); v > 0 && v < math.MaxInt64/3; v = v*3 + 7 {
		check(v)
		check(v - 1)
		check(v + 1)
	}
	check(math.MaxInt64)
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	if h.quantile(0.99) != 0 || h.mean() != 0 {
		t.Fatal("empty histogram: want zeros")
	}
	// 1 µs .. 100 ms, one value each: quantile q is q*N µs within 1/32.
	const n = 100000
	for i := 1; i <= n; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		want := q * n * float64(time.Microsecond)
		got := float64(h.quantile(q))
		if got < want || got > want*(1+1.0/histSub) {
			t.Errorf("quantile(%v) = %v, want %v..+3.1%%", q, time.Duration(got), time.Duration(want))
		}
	}
	if got := h.quantile(1); got != n*time.Microsecond {
		t.Errorf("quantile(1) = %v, want the maximum %v", got, n*time.Microsecond)
	}
	if got, want := h.mean(), time.Duration((n+1)/2.0*float64(time.Microsecond)); got < want-time.Microsecond || got > want+time.Microsecond {
		t.Errorf("mean = %v, want %v", got, want)
	}
}

func TestHistSmallAndMerge(t *testing.T) {
	var a, b hist
	for range 98 {
		a.record(10) // exact bucket
	}
	b.record(5 * time.Millisecond)
	b.record(-3) // clamps to 0
	a.merge(&b)
	if a.n != 100 {
		t.Fatalf("n = %d, want 100", a.n)
	}
	if got := a.quantile(0.5); got != 10 {
		t.Errorf("p50 = %v, want 10ns", got)
	}
	if got := a.quantile(0.01); got != 0 {
		t.Errorf("p1 = %v, want 0 (the clamped negative value)", got)
	}
	if got := a.quantile(0.99); got != 10 {
		t.Errorf("p99 = %v, want 10ns (rank 99 of 100)", got)
	}
	if got := a.quantile(0.999); got != 5*time.Millisecond {
		t.Errorf("p99.9 = %v, want the maximum 5ms", got)
	}
	a.reset()
	if a.n != 0 || a.max != 0 || a.quantile(0.5) != 0 {
		t.Error("reset left values behind")
	}
}

func TestHistRecordAllocs(t *testing.T) {
	var h hist
	if n := testing.AllocsPerRun(1000, func() { h.record(1234567) }); n != 0 {
		t.Fatalf("record allocates %v times", n)
	}
}
