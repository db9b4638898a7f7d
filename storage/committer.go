package storage

import (
	"bytes"
	"time"

	"github.com/mqttio/mqttio/broker/store"
	bolt "go.etcd.io/bbolt"
)

// run is the committer goroutine: it alone writes to bbolt and runs done
// callbacks, which is what orders callbacks and lets queued work share one
// transaction. It returns once Close was called and everything accepted has
// been written.
func (d *DB) run() {
	defer close(d.exited)
	var batch []request
	for {
		batch = d.next(batch[:0])
		if len(batch) == 0 {
			return
		}
		d.commit(batch)
		clear(batch) // drop references to ops and callbacks
	}
}

// next waits for work and moves the next batch from the queue into buf. It
// returns an empty batch when the DB is closed and drained.
func (d *DB) next(buf []request) []request {
	d.mu.Lock()
	for len(d.queue) == 0 {
		// Commit calls blocked on space when Close began will still
		// enqueue; wait for them too.
		if d.closed && d.waiters == 0 {
			d.mu.Unlock()
			return buf
		}
		d.mu.Unlock()
		<-d.wake
		d.mu.Lock()
	}
	if d.opts.MaxDelay > 0 && d.queuedOps < d.opts.MaxBatch && !d.closed {
		d.mu.Unlock()
		d.gather()
		d.mu.Lock()
	}

	// Take whole requests, in order, up to MaxBatch ops; always at least
	// one, so a request larger than MaxBatch is written alone.
	n, ops := 0, 0
	for _, r := range d.queue {
		if n > 0 && ops+len(r.ops) > d.opts.MaxBatch {
			break
		}
		n++
		ops += len(r.ops)
	}
	buf = append(buf, d.queue[:n]...)
	rest := copy(d.queue, d.queue[n:])
	clear(d.queue[rest:])
	d.queue = d.queue[:rest]
	d.queuedOps -= ops
	d.mu.Unlock()
	return buf
}

// gather waits up to MaxDelay for the queue to fill a batch (or for Close).
func (d *DB) gather() {
	t := time.NewTimer(d.opts.MaxDelay)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-d.wake:
			d.mu.Lock()
			enough := d.queuedOps >= d.opts.MaxBatch || d.closed
			d.mu.Unlock()
			if enough {
				return
			}
		}
	}
}

// commit writes batch in one transaction, frees its queue space and runs its
// callbacks in order.
func (d *DB) commit(batch []request) {
	var size int64
	ops := 0
	for _, r := range batch {
		size += r.size
		if r.err == nil {
			ops += len(r.ops)
		}
	}

	var err error
	if ops > 0 {
		err = d.bolt.Update(func(tx *bolt.Tx) error {
			return apply(tx, batch)
		})
		if err != nil {
			d.stats.failed.Add(1)
			d.log.Error("storage: commit failed", "commits", len(batch), "ops", ops, "err", err)
		} else {
			d.stats.txs.Add(1)
			d.stats.ops.Add(uint64(ops))
		}
	}

	// Free the space before the callbacks so blocked writers can enqueue
	// the next batch while we run them.
	d.mu.Lock()
	d.pending -= size
	d.space.Broadcast()
	d.mu.Unlock()

	for _, r := range batch {
		if r.err != nil {
			r.done(r.err)
		} else {
			r.done(err)
		}
	}
}

// apply performs the batch's ops in order within tx.
func apply(tx *bolt.Tx, batch []request) error {
	buckets := make(map[string]*bolt.Bucket)
	// get returns the bucket, creating it only if create is set (a delete
	// in a missing bucket has nothing to do).
	get := func(name string, create bool) (*bolt.Bucket, error) {
		if b := buckets[name]; b != nil {
			return b, nil
		}
		var b *bolt.Bucket
		if create {
			var err error
			if b, err = tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return nil, err
			}
		} else if b = tx.Bucket([]byte(name)); b == nil {
			return nil, nil
		}
		buckets[name] = b
		return b, nil
	}

	for _, r := range batch {
		if r.err != nil {
			continue
		}
		for _, op := range r.ops {
			b, err := get(op.Bucket, op.Kind == store.Put)
			if err != nil {
				return err
			}
			if b == nil {
				continue
			}
			switch op.Kind {
			case store.Put:
				err = b.Put(op.Key, op.Value)
			case store.Delete:
				err = b.Delete(op.Key)
			case store.DeletePrefix:
				err = deletePrefix(b, op.Key)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// deletePrefix removes every key of b starting with prefix. Seeking afresh
// after each delete (O(log n) each) keeps it independent of where
// Cursor.Delete leaves the cursor, which bbolt does not document.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
