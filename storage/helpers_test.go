package storage

import (
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/store"
)

// quietLogger keeps expected error logs out of test output.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// openTest opens a DB in a fresh temporary directory and closes it at the
// end of the test. Most tests skip fsync: they check semantics, and the
// crash test checks durability with fsync on.
func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "sub", "mqttio.db")
		opts.NoSync = true
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	d, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// commitWait commits ops and waits for their callback.
func commitWait(t testing.TB, d *DB, ops ...store.Op) error {
	t.Helper()
	ch := make(chan error, 1)
	d.Commit(ops, func(err error) { ch <- err })
	return <-ch
}

func mustCommit(t testing.TB, d *DB, ops ...store.Op) {
	t.Helper()
	if err := commitWait(t, d, ops...); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func put(bucket, key, value string) store.Op {
	return store.Op{Kind: store.Put, Bucket: bucket, Key: []byte(key), Value: []byte(value)}
}

func del(bucket, key string) store.Op {
	return store.Op{Kind: store.Delete, Bucket: bucket, Key: []byte(key)}
}

func delPrefix(bucket, prefix string) store.Op {
	return store.Op{Kind: store.DeletePrefix, Bucket: bucket, Key: []byte(prefix)}
}

// dump returns the bucket's contents as a map.
func dump(t testing.TB, d *DB, bucket string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := d.ForEach(bucket, func(k, v []byte) error {
		m[string(k)] = string(v)
		return nil
	})
	if err != nil {
		t.Fatalf("ForEach(%q): %v", bucket, err)
	}
	return m
}

// stall blocks the committer inside a callback until the returned release
// is called (also at cleanup), so that tests can pile up work and control
// exactly what the next batch contains.
func stall(t testing.TB, d *DB) (release func()) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	d.Commit(nil, func(error) {
		close(started)
		<-gate
	})
	<-started
	release = sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release)
	return release
}

// waitFor polls cond without sleeping until it holds, failing after a
// generous deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}
