package storage

import "sync/atomic"

// Stats are counters since Open, for metrics and for showing group commit at
// work: Ops/Txs is the number of ops that shared one fsync.
type Stats struct {
	Commits      uint64 // Commit calls accepted (not those after Close)
	Ops          uint64 // ops written by successful transactions
	Txs          uint64 // successful write transactions; one fsync each unless NoSync
	Failed       uint64 // write transactions that failed
	Blocked      uint64 // Commit calls that waited for queue space
	PendingBytes int64  // bytes queued or being written right now
}

type counters struct {
	commits, ops, txs, failed, blocked atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (d *DB) Stats() Stats {
	d.mu.Lock()
	pending := d.pending
	d.mu.Unlock()
	return Stats{
		Commits:      d.stats.commits.Load(),
		Ops:          d.stats.ops.Load(),
		Txs:          d.stats.txs.Load(),
		Failed:       d.stats.failed.Load(),
		Blocked:      d.stats.blocked.Load(),
		PendingBytes: pending,
	}
}
