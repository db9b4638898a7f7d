package storage

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqttio/mqttio/broker/store"
)

// Many writers commit concurrently without waiting; each commit rewrites all
// of its writer's keys with one generation number. A reader checks in every
// snapshot that each writer's keys carry the same generation (commits are
// atomic even when MaxBatch forces them into different transactions), and
// each writer checks its callbacks arrive in its commit order.
func TestConcurrentCommitsAtomicAndOrdered(t *testing.T) {
	const (
		writers = 8
		gens    = 150
		keys    = 5
	)
	d := openTest(t, Options{MaxBatch: 12}) // two commits per tx at most

	var (
		wg          sync.WaitGroup
		writersDone atomic.Bool
		snapshots   atomic.Int64
	)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for !writersDone.Load() || snapshots.Load() == 0 {
			seen := map[string][]uint32{}
			err := d.ForEach("c", func(k, v []byte) error {
				w := string(k[:3])
				seen[w] = append(seen[w], binary.BigEndian.Uint32(v))
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			for w, g := range seen {
				if len(g) != keys {
					t.Errorf("snapshot has %d of writer %s's %d keys", len(g), w, keys)
					return
				}
				for _, x := range g {
					if x != g[0] {
						t.Errorf("writer %s: mixed generations %v in one snapshot", w, g)
						return
					}
				}
			}
			snapshots.Add(1)
		}
	}()

	for w := range writers {
		wg.Go(func() {
			prefix := fmt.Sprintf("w%02d", w)
			// Buffers reused for every commit: Commit must copy them.
			val := make([]byte, 4)
			ops := make([]store.Op, keys)
			for k := range ops {
				ops[k] = store.Op{Kind: store.Put, Bucket: "c", Key: fmt.Appendf(nil, "%s/%d", prefix, k), Value: val}
			}
			next := uint32(0) // callbacks run on one goroutine, in order
			allDone := make(chan struct{})
			for g := range uint32(gens) {
				binary.BigEndian.PutUint32(val, g)
				if g%10 == 0 {
					d.Commit(nil, nil) // empty commits are ordered no-ops
				}
				d.Commit(ops, func(err error) {
					if err != nil {
						t.Error(err)
					}
					if g != next {
						t.Errorf("writer %s: callback for gen %d, expected %d", prefix, g, next)
					}
					next++
					if g == gens-1 {
						close(allDone)
					}
				})
			}
			<-allDone
		})
	}
	wg.Wait()
	writersDone.Store(true)
	<-readerDone

	got := dump(t, d, "c")
	if len(got) != writers*keys {
		t.Fatalf("%d keys, want %d", len(got), writers*keys)
	}
	for k, v := range got {
		if g := binary.BigEndian.Uint32([]byte(v)); g != gens-1 {
			t.Fatalf("%s = gen %d, want %d", k, g, gens-1)
		}
	}
	s := d.Stats()
	t.Logf("%d commits in %d transactions, %d reader snapshots", s.Commits, s.Txs, snapshots.Load())
}
