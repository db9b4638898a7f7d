package storage

import (
	"errors"
	"fmt"

	"github.com/mqttio/mqttio/broker/store"
	bolt "go.etcd.io/bbolt"
)

// ErrInvalidOp is wrapped by the error passed to done when a Commit contains
// an op bbolt would reject (empty bucket name, empty or oversized key,
// unknown kind). Such a Commit is failed on its own, in order, without being
// written, so it cannot fail the other commits of its batch.
var ErrInvalidOp = errors.New("storage: invalid op")

// opOverhead approximates the memory of one queued store.Op beyond its key
// and value bytes, so that many tiny ops are still bounded.
const opOverhead = 80

// request is one Commit call waiting for the committer.
type request struct {
	ops  []store.Op // private copies
	done func(error)
	err  error // set for an invalid request: report it, write nothing
	size int64 // bytes counted in DB.pending
}

// Commit queues ops to be written atomically and in order, in one
// transaction shared with other callers' commits, and returns without
// waiting for the write. Keys and values are copied before Commit returns.
//
// done (may be nil) is called on the committer goroutine, in Commit order,
// with nil once the ops are fsynced or with the error that failed their
// transaction. It must not block, and must not call Commit (see the package
// doc on backpressure). After Close, done(ErrClosed) is called at once on
// the caller's goroutine.
//
// Commit blocks only when the queue is full (Options.MaxQueueBytes), until
// the committer has made room.
func (d *DB) Commit(ops []store.Op, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	r := request{done: done}
	if err := validate(ops); err != nil {
		r.err = err
	} else {
		r.ops, r.size = copyOps(ops)
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		done(ErrClosed)
		return
	}
	if d.pending > 0 && d.pending+r.size > d.opts.MaxQueueBytes {
		d.stats.blocked.Add(1)
		d.waiters++
		// Close wakes us and lets us in regardless of the bound: we were
		// accepted before Close began and the committer drains everything.
		for d.pending > 0 && d.pending+r.size > d.opts.MaxQueueBytes && !d.closed {
			d.space.Wait()
		}
		d.waiters--
	}
	d.queue = append(d.queue, r)
	d.queuedOps += len(r.ops)
	d.pending += r.size
	d.mu.Unlock()
	d.stats.commits.Add(1)
	d.signal()
}

// signal wakes the committer without blocking; one pending token is enough
// because the committer rechecks the queue after every wake.
func (d *DB) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func validate(ops []store.Op) error {
	for i, op := range ops {
		var err error
		switch {
		case op.Bucket == "":
			err = errors.New("empty bucket name")
		case len(op.Key) > bolt.MaxKeySize:
			err = fmt.Errorf("key of %d bytes exceeds %d", len(op.Key), bolt.MaxKeySize)
		case op.Kind == store.Put && int64(len(op.Value)) > bolt.MaxValueSize:
			err = fmt.Errorf("value of %d bytes exceeds %d", len(op.Value), bolt.MaxValueSize)
		case op.Kind == store.Put || op.Kind == store.Delete:
			if len(op.Key) == 0 {
				err = errors.New("empty key")
			}
		case op.Kind == store.DeletePrefix:
		default:
			err = fmt.Errorf("unknown kind %d", op.Kind)
		}
		if err != nil {
			return fmt.Errorf("%w: op %d (bucket %q): %s", ErrInvalidOp, i, op.Bucket, err)
		}
	}
	return nil
}

// copyOps copies ops and all their keys and values into one allocation, so
// that a Commit costs two allocations whatever its size. It returns the
// copy and its size for the queue bound.
func copyOps(ops []store.Op) ([]store.Op, int64) {
	n := 0
	for _, op := range ops {
		n += len(op.Key)
		if op.Kind == store.Put {
			n += len(op.Value)
		}
	}
	arena := make([]byte, 0, n)
	out := make([]store.Op, len(ops))
	for i, op := range ops {
		out[i] = store.Op{Kind: op.Kind, Bucket: op.Bucket}
		out[i].Key, arena = carve(arena, op.Key)
		if op.Kind == store.Put {
			out[i].Value, arena = carve(arena, op.Value)
		}
	}
	return out, int64(n + len(ops)*opOverhead)
}

// carve appends b to arena and returns the appended part, capped so that
// appending to it cannot overwrite its neighbour.
func carve(arena, b []byte) ([]byte, []byte) {
	start := len(arena)
	arena = append(arena, b...)
	return arena[start:len(arena):len(arena)], arena
}
