package storage

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mqttio/mqttio/broker/store"
)

// A Commit that would push the queue past MaxQueueBytes blocks until the
// committer frees space, then goes through: nothing is dropped.
func TestBackpressureBlocksUntilSpace(t *testing.T) {
	d := openTest(t, Options{MaxQueueBytes: 1024})
	value := strings.Repeat("v", 500)
	release := stall(t, d)

	errB := make(chan error, 1)
	d.Commit([]store.Op{put("b", "B", value)}, func(err error) { errB <- err })
	if s := d.Stats(); s.Blocked != 0 || s.PendingBytes == 0 {
		t.Fatalf("first commit should be queued without blocking: %+v", s)
	}

	errC := make(chan error, 1)
	returnedC := make(chan struct{})
	go func() {
		d.Commit([]store.Op{put("b", "C", value)}, func(err error) { errC <- err })
		close(returnedC)
	}()
	waitFor(t, "Commit C to block", func() bool { return d.Stats().Blocked == 1 })
	select {
	case <-returnedC:
		t.Fatal("Commit C returned while the queue was full")
	default:
	}

	release()
	<-returnedC
	for name, ch := range map[string]chan error{"B": errB, "C": errC} {
		if err := <-ch; err != nil {
			t.Fatalf("commit %s: %v", name, err)
		}
	}
	if got := dump(t, d, "b"); len(got) != 2 {
		t.Fatalf("got %d keys, want B and C", len(got))
	}
	if s := d.Stats(); s.PendingBytes != 0 {
		t.Fatalf("PendingBytes = %d after everything was written", s.PendingBytes)
	}
}

// A single Commit larger than the whole bound is admitted once the queue is
// empty rather than waiting forever.
func TestBackpressureOversizedCommit(t *testing.T) {
	d := openTest(t, Options{MaxQueueBytes: 100})
	mustCommit(t, d, put("b", "big", strings.Repeat("x", 10_000)))
	mustCommit(t, d, put("b", "big2", strings.Repeat("x", 10_000)))
}

// Commit calls blocked on a full queue when Close begins are still written.
func TestBackpressureCloseAdmitsBlocked(t *testing.T) {
	d := openTest(t, Options{MaxQueueBytes: 1024})
	value := strings.Repeat("v", 800)
	release := stall(t, d)
	errB, errC := make(chan error, 1), make(chan error, 1)
	d.Commit([]store.Op{put("b", "B", value)}, func(err error) { errB <- err })
	returnedC := make(chan struct{})
	go func() {
		d.Commit([]store.Op{put("b", "C", value)}, func(err error) { errC <- err })
		close(returnedC)
	}()
	waitFor(t, "Commit C to block", func() bool { return d.Stats().Blocked == 1 })

	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	<-returnedC // admitted by Close while the committer is still stalled
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan error{"B": errB, "C": errC} {
		if err := <-ch; err != nil {
			t.Fatalf("commit %s: %v", name, err)
		}
	}
}

// Many producers against a tiny bound: everything is written, in each
// producer's order.
func TestBackpressureManyProducers(t *testing.T) {
	d := openTest(t, Options{MaxQueueBytes: 2048})
	const producers, each = 8, 100
	value := strings.Repeat("p", 200)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			last := make(chan struct{})
			next := 0
			for i := range each {
				d.Commit([]store.Op{put("b", fmt.Sprintf("%d/%03d", p, i), value)}, func(err error) {
					if err != nil || i != next {
						t.Errorf("producer %d commit %d: err=%v, expected commit %d", p, i, err, next)
					}
					next++
					if i == each-1 {
						close(last)
					}
				})
			}
			<-last
		})
	}
	wg.Wait()
	if got := dump(t, d, "b"); len(got) != producers*each {
		t.Fatalf("%d keys written, want %d", len(got), producers*each)
	}
	t.Logf("stats: %+v", d.Stats())
}
