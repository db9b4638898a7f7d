package main

import (
	"math"
	"math/bits"
	"time"
)

// hist is a log-linear histogram of non-negative durations in nanoseconds.
// Values below 64 ns get a bucket each; above, every power of two is split
// into 32 buckets, so a reported percentile is at most 1/32 (3.1%) above
// the true value. Recording is a few instructions and never allocates; each
// reader goroutine owns one and they are merged at the end.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64
	max    int64
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits // buckets per power of two
	histLinear  = 2 * histSub      // values below this are exact
	// Enough buckets for any int64.
	histBuckets = histLinear + (63-histSubBits)*histSub
)

// histIndex is the bucket of v (v >= 0).
func histIndex(v int64) int {
	if v < histLinear {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1 // >= 1
	return histLinear + (shift-1)*histSub + int(uint64(v)>>uint(shift)) - histSub
}

// histUpper is the largest value that falls into bucket i.
func histUpper(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	shift := (i-histLinear)/histSub + 1
	sub := int64((i-histLinear)%histSub + histSub)
	hi := (sub+1)<<uint(shift) - 1
	if hi < 0 { // the last buckets overflow int64
		return math.MaxInt64
	}
	return hi
}

// record adds one value.
func (h *hist) record(v time.Duration) {
	ns := int64(v)
	if ns < 0 {
		ns = 0 // clock steps; the monotonic clock should not produce them
	}
	h.counts[histIndex(ns)]++
	h.n++
	h.sum += float64(ns)
	if ns > h.max {
		h.max = ns
	}
}

// merge adds o's values to h.
func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// reset forgets every value.
func (h *hist) reset() { *h = hist{} }

// quantile returns the value below or at which a fraction q (0..1] of the
// recorded values lie: the upper bound of the bucket holding the value of
// rank ceil(q*n), capped at the exact maximum. It is 0 when h is empty.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			return time.Duration(min(histUpper(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// mean returns the average value.
func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}
