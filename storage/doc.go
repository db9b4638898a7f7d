// Package storage implements the broker's persistence interface
// (broker/store.Store) on a single bbolt file.
//
// # Group commit
//
// bbolt allows one write transaction at a time and each one costs an fsync,
// which on real disks takes milliseconds. If every broker session committed
// its own transaction, throughput would be capped at one fsync per message.
// Instead, Commit only copies the ops onto an in-memory queue and returns; a
// single committer goroutine repeatedly takes everything queued (up to
// Options.MaxBatch ops), applies it in one bbolt Update transaction and then
// runs the callers' done callbacks in the order they called Commit. While a
// transaction is being fsynced, new work accumulates, so under load many
// callers share one fsync, and under light load a lone commit is written at
// once with no timer delay (unless Options.MaxDelay asks for one).
//
// Each Commit call is atomic: its ops are never split across transactions.
// The price of sharing a transaction is that a storage error (disk full, I/O
// error) fails every Commit of that batch; malformed ops are rejected per
// call before they reach the batch, so one bad caller cannot fail others.
//
// # Backpressure
//
// The queue is bounded in bytes (Options.MaxQueueBytes, counting keys,
// values and a per-op overhead of everything queued or being written). When
// a Commit would exceed the bound, it blocks its caller until the committer
// has written enough to make room. Commit never drops work. A single Commit
// larger than the bound is admitted when nothing else is pending, so it
// cannot wait forever. Because the committer is the one freeing space, a
// done callback must not call Commit: under backpressure it would wait for
// itself.
//
// # Durability
//
// A done(nil) means the ops are in a committed, fsynced bbolt transaction
// (unless Options.NoSync): they survive a crash of the process or the
// machine. The crash test in this package kills a writer with SIGKILL and
// checks every acknowledged op after reopening.
package storage
