package storage

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqttio/mqttio/broker/store"
)

// Benchmarks run with fsync on (NoSync false) in b.TempDir(), so they show
// what group commit buys on the machine's real disk. Each reports ops/s,
// fsyncs/s and ops/fsync (ops that shared one transaction).

func openBench(b *testing.B) *DB {
	b.Helper()
	return openTest(b, Options{Path: filepath.Join(b.TempDir(), "bench.db")})
}

func reportCommits(b *testing.B, d *DB, before Stats) {
	s := d.Stats()
	txs := float64(s.Txs - before.Txs)
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "ops/s")
	b.ReportMetric(txs/sec, "fsyncs/s")
	b.ReportMetric(float64(b.N)/txs, "ops/fsync")
}

// smallPut is a typical broker write: a short key, a 64-byte value.
func smallPut(key []byte, seq uint64, value []byte) []store.Op {
	binary.BigEndian.PutUint64(key, seq)
	return []store.Op{{Kind: store.Put, Bucket: "bench", Key: key, Value: value}}
}

// BenchmarkCommitParallel: many goroutines, each committing one small Put
// and waiting for its done before the next, like broker sessions waiting
// for QoS 1 persistence before PUBACK.
func BenchmarkCommitParallel(b *testing.B) {
	for _, par := range []int{1, 8, 32} {
		writers := par * runtime.GOMAXPROCS(0) // what RunParallel starts
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			d := openBench(b)
			var seq atomic.Uint64
			before := d.Stats()
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				key, value := make([]byte, 8), make([]byte, 64)
				done := make(chan error, 1)
				for pb.Next() {
					d.Commit(smallPut(key, seq.Add(1), value), func(err error) { done <- err })
					if err := <-done; err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportCommits(b, d, before)
		})
	}
}

// BenchmarkCommitSerial: one writer waiting for every commit, the baseline
// of one fsync per op.
func BenchmarkCommitSerial(b *testing.B) {
	d := openBench(b)
	key, value := make([]byte, 8), make([]byte, 64)
	done := make(chan error, 1)
	before := d.Stats()
	seq := uint64(0)
	for b.Loop() {
		seq++
		d.Commit(smallPut(key, seq, value), func(err error) { done <- err })
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	reportCommits(b, d, before)
}

// BenchmarkCommitPipelined: one writer that does not wait, as when a single
// session streams messages; batching then comes from the queue alone.
func BenchmarkCommitPipelined(b *testing.B) {
	d := openBench(b)
	key, value := make([]byte, 8), make([]byte, 64)
	var wg sync.WaitGroup
	before := d.Stats()
	b.ResetTimer()
	// Not b.Loop: it would stop the timer before wg.Wait.
	for i := range b.N {
		wg.Add(1)
		d.Commit(smallPut(key, uint64(i), value), func(err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	b.StopTimer()
	reportCommits(b, d, before)
}
