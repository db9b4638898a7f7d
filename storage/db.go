package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/mqttio/mqttio/broker/store"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrClosed is passed to done by Commit, and returned by ForEach, once Close
// has been called.
var ErrClosed = errors.New("storage: closed")

// DB is a bbolt-backed store.Store with group commit. All methods are safe
// for concurrent use.
type DB struct {
	bolt *bolt.DB
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	space     *sync.Cond // broadcast when pending drops or on Close
	queue     []request  // accepted, not yet taken by the committer
	queuedOps int        // ops in queue
	pending   int64      // bytes queued or being written
	waiters   int        // Commit calls blocked on space
	closed    bool
	wake      chan struct{} // capacity 1: "the queue or closed changed"
	exited    chan struct{} // closed when the committer returns

	closeOnce sync.Once
	closeErr  error

	stats counters
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the bbolt file at opts.Path and starts the
// committer. If another process holds the file, Open fails after
// opts.LockTimeout with an error naming the path.
func Open(opts Options) (*DB, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("storage: create directory for %s: %w", opts.Path, err)
	}
	b, err := bolt.Open(opts.Path, 0o600, &bolt.Options{
		// Without a timeout bbolt waits forever for the flock, so a second
		// broker started on the same data directory would just hang.
		Timeout: opts.LockTimeout,
		// The hashmap freelist finds a free span by size instead of
		// scanning an array, which matters once the file has many free
		// pages (sessions and retained messages churn).
		FreelistType: bolt.FreelistMapType,
		// Not writing the freelist saves pages, and so fsync time, on every
		// commit, which is our hot path. The cost is that Open rebuilds the
		// freelist by scanning the file, once per start-up, when the broker
		// reads all its state anyway. Crash safety is unaffected: the
		// freelist is derived from the pages reachable from the last
		// committed meta page.
		NoFreelistSync: true,
		NoSync:         opts.NoSync,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("storage: open %s: file is locked by another process or DB handle (gave up after %v): %w",
				opts.Path, opts.LockTimeout, err)
		}
		return nil, fmt.Errorf("storage: open %s: %w", opts.Path, err)
	}
	d := &DB{
		bolt:   b,
		opts:   opts,
		log:    opts.Logger.With("path", opts.Path),
		wake:   make(chan struct{}, 1),
		exited: make(chan struct{}),
	}
	d.space = sync.NewCond(&d.mu)
	go d.run()
	return d, nil
}

// ForEach calls fn for every key of bucket in key order, in one read
// transaction. A missing bucket yields no calls and no error. key and value
// are valid only during fn. An error from fn stops the walk and is returned.
// ForEach sees only committed transactions, not work still queued.
func (d *DB) ForEach(bucket string, fn func(key, value []byte) error) error {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return ErrClosed
	}
	err := d.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(fn)
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed // lost a race with Close
	}
	return err
}

// Close stops accepting commits, writes everything already accepted
// (including Commit calls blocked on backpressure when Close began), runs
// their callbacks, and closes the file. Concurrent and later calls wait for
// the first and return its result.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.space.Broadcast()
		d.mu.Unlock()
		d.signal()
		<-d.exited
		if err := d.bolt.Close(); err != nil {
			d.closeErr = fmt.Errorf("storage: close %s: %w", d.opts.Path, err)
		}
	})
	return d.closeErr
}
