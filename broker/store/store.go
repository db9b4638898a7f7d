// Package store declares the persistence interface the broker core writes
// through. The core imports only this package; storage/ implements it on
// bbolt, and cmd/ wires the two. A nil Store means nothing is persisted.
package store

// Kind says what an Op does.
type Kind uint8

// Operation kinds.
const (
	Put          Kind = iota // set Key to Value in Bucket
	Delete                   // remove Key from Bucket (absent is not an error)
	DeletePrefix             // remove every key in Bucket that starts with Key
)

// Op is one write. The store copies Key and Value before Commit returns, so
// the caller may reuse its buffers at once.
type Op struct {
	Kind   Kind
	Bucket string
	Key    []byte
	Value  []byte
}

// Store is a batched, durable key-value store.
type Store interface {
	// Commit queues ops to be written atomically, in order, together with
	// other callers' ops (group commit). done is called once the ops are
	// durable (fsynced), or with the error that stopped them. Callbacks run
	// in commit order on the store's goroutine and must not block.
	Commit(ops []Op, done func(error))

	// ForEach calls fn for every key of bucket in key order (used at
	// start-up to restore state). key and value are valid only during fn.
	ForEach(bucket string, fn func(key, value []byte) error) error

	// Close flushes pending commits, runs their callbacks and closes the
	// store.
	Close() error
}
