package storage

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/store"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

func TestPutDeleteForEach(t *testing.T) {
	d := openTest(t, Options{})
	mustCommit(t, d, put("s", "b", "2"), put("s", "a", "1"), put("s", "c", "3"), put("r", "x", "y"))
	mustCommit(t, d, del("s", "b"), del("s", "missing"), del("nobucket", "k"))

	var keys []string
	err := d.ForEach("s", func(k, v []byte) error {
		keys = append(keys, string(k)+"="+string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "a=1,c=3" {
		t.Fatalf("ForEach order/content = %s, want a=1,c=3", got)
	}
	if got := dump(t, d, "r"); !maps.Equal(got, map[string]string{"x": "y"}) {
		t.Fatalf("bucket r = %v", got)
	}
	// Deleting in a missing bucket must not create it.
	_ = d.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("nobucket")) != nil {
			t.Error("Delete created its bucket")
		}
		return nil
	})
}

func TestForEachMissingBucketAndError(t *testing.T) {
	d := openTest(t, Options{})
	calls := 0
	if err := d.ForEach("none", func(k, v []byte) error { calls++; return nil }); err != nil || calls != 0 {
		t.Fatalf("missing bucket: err=%v calls=%d", err, calls)
	}
	mustCommit(t, d, put("b", "1", ""), put("b", "2", ""))
	stop := errors.New("stop")
	calls = 0
	err := d.ForEach("b", func(k, v []byte) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("fn error: err=%v calls=%d", err, calls)
	}
}

func TestPutNilValue(t *testing.T) {
	d := openTest(t, Options{})
	mustCommit(t, d, store.Op{Kind: store.Put, Bucket: "b", Key: []byte("k")})
	if got := dump(t, d, "b"); !maps.Equal(got, map[string]string{"k": ""}) {
		t.Fatalf("got %v", got)
	}
}

func TestDeletePrefix(t *testing.T) {
	d := openTest(t, Options{})
	mustCommit(t, d, put("b", "a", ""), put("b", "ab", ""), put("b", "abc", ""),
		put("b", "abd", ""), put("b", "ac", ""), put("b", "b", ""))
	mustCommit(t, d, delPrefix("b", "ab"), delPrefix("b", "zz"), delPrefix("none", "a"))
	want := map[string]string{"a": "", "ac": "", "b": ""}
	if got := dump(t, d, "b"); !maps.Equal(got, want) {
		t.Fatalf("after DeletePrefix(ab): %v, want %v", got, want)
	}

	// Enough keys to span many pages, interleaved with keys to keep, so
	// deletes cross page boundaries and trigger rebalancing.
	var ops []store.Op
	for i := range 5000 {
		ops = append(ops, put("big", fmt.Sprintf("p/%05d", i), strings.Repeat("v", 50)))
		ops = append(ops, put("big", fmt.Sprintf("q/%05d", i), "keep"))
		ops = append(ops, put("big", fmt.Sprintf("o/%05d", i), "keep"))
	}
	mustCommit(t, d, ops...)
	mustCommit(t, d, delPrefix("big", "p/"))
	got := dump(t, d, "big")
	if len(got) != 10000 {
		t.Fatalf("%d keys left, want 10000", len(got))
	}
	for k := range got {
		if strings.HasPrefix(k, "p/") {
			t.Fatalf("key %s survived DeletePrefix", k)
		}
	}

	mustCommit(t, d, delPrefix("big", ""))
	if got := dump(t, d, "big"); len(got) != 0 {
		t.Fatalf("empty prefix left %d keys", len(got))
	}
}

// Ops apply in order within a commit and across the commits of one batch.
func TestOpOrder(t *testing.T) {
	d := openTest(t, Options{})
	mustCommit(t, d, put("b", "k", "1"), del("b", "k"), put("b", "k", "2"), put("b", "j", "x"), delPrefix("b", "j"))
	if got := dump(t, d, "b"); !maps.Equal(got, map[string]string{"k": "2"}) {
		t.Fatalf("within one commit: %v", got)
	}

	release := stall(t, d)
	errs := make(chan error, 3)
	cb := func(err error) { errs <- err }
	d.Commit([]store.Op{put("b", "k", "3")}, cb)
	d.Commit([]store.Op{delPrefix("b", "")}, cb)
	d.Commit([]store.Op{put("b", "m", "4")}, cb)
	release()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := dump(t, d, "b"); !maps.Equal(got, map[string]string{"m": "4"}) {
		t.Fatalf("across commits of a batch: %v", got)
	}
}

// Commit copies keys and values: the caller may reuse its buffers at once.
func TestCommitCopiesBuffers(t *testing.T) {
	d := openTest(t, Options{})
	release := stall(t, d) // keep the ops queued while we scribble
	key, val := []byte("key0"), []byte("val0")
	errs := make(chan error, 10)
	for i := range 10 {
		key[3], val[3] = byte('0'+i), byte('0'+i)
		d.Commit([]store.Op{{Kind: store.Put, Bucket: "b", Key: key, Value: val}}, func(err error) { errs <- err })
	}
	copy(key, "XXXX")
	copy(val, "XXXX")
	release()
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := dump(t, d, "b")
	for i := range 10 {
		k, v := fmt.Sprintf("key%d", i), fmt.Sprintf("val%d", i)
		if got[k] != v {
			t.Fatalf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != 10 {
		t.Fatalf("got %d keys: %v", len(got), got)
	}
}

// Callbacks run in Commit order, and one Commit's ops are never split even
// when they exceed MaxBatch.
func TestCallbackOrderAndBatching(t *testing.T) {
	d := openTest(t, Options{MaxBatch: 3})
	release := stall(t, d)
	const n = 200
	var order []int // appended only on the committer goroutine
	finished := make(chan struct{})
	for i := range n {
		ops := []store.Op{put("b", fmt.Sprintf("%03d", i), "v")}
		if i%10 == 0 {
			for j := range 5 { // larger than MaxBatch
				ops = append(ops, put("b", fmt.Sprintf("%03d/%d", i, j), "v"))
			}
		}
		d.Commit(ops, func(err error) {
			if err != nil {
				t.Error(err)
			}
			order = append(order, i)
			if i == n-1 {
				close(finished)
			}
		})
	}
	release()
	<-finished
	for i, got := range order {
		if got != i {
			t.Fatalf("callback %d was for commit %d", i, got)
		}
	}
	s := d.Stats()
	// 20 commits of 6 ops go alone; the other 180 go three at a time.
	if want := uint64(20 + 180/3); s.Txs != want {
		t.Errorf("Txs = %d, want %d", s.Txs, want)
	}
	if want := uint64(20*6 + 180); s.Ops != want {
		t.Errorf("Ops = %d, want %d", s.Ops, want)
	}
}

func TestInvalidOpFailsAlone(t *testing.T) {
	d := openTest(t, Options{})
	release := stall(t, d)
	bad := [][]store.Op{
		{put("", "k", "v")},
		{put("b", "", "v")},
		{del("b", "")},
		{{Kind: 42, Bucket: "b", Key: []byte("k")}},
		{{Kind: store.Put, Bucket: "b", Key: make([]byte, bolt.MaxKeySize+1)}},
	}
	errs := make([]chan error, len(bad))
	for i, ops := range bad {
		errs[i] = make(chan error, 1)
		d.Commit(append([]store.Op{put("b", "from-bad", "x")}, ops...), func(err error) { errs[i] <- err })
	}
	good := make(chan error, 1)
	d.Commit([]store.Op{put("b", "good", "ok")}, func(err error) { good <- err })
	release()
	for i := range bad {
		if err := <-errs[i]; !errors.Is(err, ErrInvalidOp) {
			t.Errorf("bad commit %d: err = %v, want ErrInvalidOp", i, err)
		}
	}
	if err := <-good; err != nil {
		t.Fatalf("good commit in the same batch failed: %v", err)
	}
	if got := dump(t, d, "b"); !maps.Equal(got, map[string]string{"good": "ok"}) {
		t.Fatalf("got %v: an invalid commit was partly written", got)
	}
}

// A bbolt error fails every commit of its batch, writes none of them, and
// leaves the DB usable.
func TestWriteErrorFailsBatchDBStaysUsable(t *testing.T) {
	d := openTest(t, Options{})
	// A nested bucket: bbolt refuses to Put over it. This is the real
	// bbolt error path, reached without mocks.
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		_, err = b.CreateBucket([]byte("nested"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	release := stall(t, d)
	e1, e2 := make(chan error, 1), make(chan error, 1)
	d.Commit([]store.Op{put("b", "innocent", "v")}, func(err error) { e1 <- err })
	d.Commit([]store.Op{put("b", "nested", "v")}, func(err error) { e2 <- err })
	release()
	for i, ch := range []chan error{e1, e2} {
		if err := <-ch; !errors.Is(err, berrors.ErrIncompatibleValue) {
			t.Errorf("commit %d: err = %v, want ErrIncompatibleValue", i, err)
		}
	}
	if got := dump(t, d, "b"); got["innocent"] != "" {
		t.Fatal("a failed transaction was partly written")
	}
	if s := d.Stats(); s.Failed != 1 {
		t.Errorf("Failed = %d, want 1", s.Failed)
	}

	mustCommit(t, d, put("b", "after", "ok"))
	if got := dump(t, d, "b"); got["after"] != "ok" {
		t.Fatalf("commit after a failed one: %v", got)
	}
}

func TestCloseFlushesAndRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	d, err := Open(Options{Path: path, NoSync: true, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	release := stall(t, d)
	const n = 100
	called := 0 // committer goroutine only; read after Close returns
	for i := range n {
		d.Commit([]store.Op{put("b", fmt.Sprint(i), "v")}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			called++
		})
	}
	closed := make(chan error)
	go func() { closed <- d.Close() }()
	waitFor(t, "Close to stop accepting", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.closed
	})
	var after error
	d.Commit([]store.Op{put("b", "late", "v")}, func(err error) { after = err })
	if !errors.Is(after, ErrClosed) {
		t.Fatalf("Commit during Close: done(%v), want ErrClosed called at once", after)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if called != n {
		t.Fatalf("%d of %d callbacks ran before Close returned", called, n)
	}

	after = nil
	d.Commit([]store.Op{put("b", "late", "v")}, func(err error) { after = err })
	if !errors.Is(after, ErrClosed) {
		t.Fatalf("Commit after Close: done(%v), want ErrClosed", after)
	}
	d.Commit(nil, nil) // nil done must not panic
	if err := d.ForEach("b", func(k, v []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("ForEach after Close = %v, want ErrClosed", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	d2 := openTest(t, Options{Path: path, NoSync: true})
	if got := dump(t, d2, "b"); len(got) != n {
		t.Fatalf("reopened: %d keys, want %d", len(got), n)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	openTest(t, Options{Path: path, NoSync: true})
	start := time.Now()
	d2, err := Open(Options{Path: path, LockTimeout: 100 * time.Millisecond})
	if err == nil {
		d2.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q should wrap berrors.ErrTimeout and name %s", err, path)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("second Open took %v with a 100ms lock timeout", el)
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	openTest(t, Options{Path: filepath.Join(dir, "db"), NoSync: true})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %o, want 700", perm)
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("Open with empty Path succeeded")
	}
}

// With a long MaxDelay the committer waits for a full batch, but writes at
// once when MaxBatch ops are queued or when Close is called.
func TestMaxDelay(t *testing.T) {
	d := openTest(t, Options{MaxDelay: time.Hour, MaxBatch: 2})
	e1, e2 := make(chan error, 1), make(chan error, 1)
	d.Commit([]store.Op{put("b", "1", "")}, func(err error) { e1 <- err })
	d.Commit([]store.Op{put("b", "2", "")}, func(err error) { e2 <- err })
	if err := <-e1; err != nil {
		t.Fatal(err)
	}
	if err := <-e2; err != nil {
		t.Fatal(err)
	}

	var got error = errors.New("not called")
	d.Commit([]store.Op{put("b", "3", "")}, func(err error) { got = err })
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got != nil {
		t.Fatalf("lone commit before Close: %v", got)
	}
}
