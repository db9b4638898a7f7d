// Package fsm is the Raft state machine of mqttio: the state every node
// agrees on (retained messages, the node registry), kept in its own bbolt
// file next to the Raft log.
//
// # Rules
//
//   - A log entry is one type byte (EntryBatch) and a protobuf
//     clusterpb.RaftEntry: the time stamped by the proposer and a batch of
//     commands, each one type byte and a protobuf body. Commands are
//     dispatched by a table indexed by their type. An unknown type or an
//     undecodable body rejects the whole entry, on every node alike: Apply
//     logs it at error level and returns the error (the proposer's future
//     carries it), and nothing of the entry is written.
//   - Apply never reads the clock: the entry's time is the only one.
//   - The applied index is written in the same bbolt transaction as the
//     data, so the file is always a consistent state at a known index. On
//     start Raft replays entries from its last snapshot; the ones at or
//     below the applied index are skipped.
//   - Snapshot captures a bbolt read transaction (a consistent, read-only
//     view that Apply does not disturb); Persist streams that view with
//     Tx.WriteTo. Restore writes the stream to a fresh bbolt file, checks
//     it and swaps it in; a snapshot no newer than the current state (Raft
//     restoring its last snapshot at start) is skipped.
//   - Every change is reported to the Notifier after its transaction has
//     committed, in log order, on Raft's FSM goroutine: nothing is queued,
//     so nothing can be dropped.
package fsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	clusterpb "github.com/mqttio/mqttio/proto"
)

// EntryBatch is the type byte of every log entry: a clusterpb.RaftEntry
// follows.
const EntryBatch byte = 1

// Command types: the first byte of each command of an entry.
const (
	CmdSetRetained    byte = 1 // clusterpb.SetRetained
	CmdDeleteRetained byte = 2 // clusterpb.DeleteRetained
	CmdExpireRetained byte = 3 // clusterpb.ExpireRetained
	CmdSetNode        byte = 4 // clusterpb.SetNode
)

// Buckets of the FSM file.
var (
	bucketMeta     = []byte("meta")     // "applied": 8-byte big-endian log index
	bucketRetained = []byte("retained") // topic → clusterpb.RetainedMessage
	bucketExpiry   = []byte("expiry")   // 8-byte expires_at + topic → empty
	bucketNodes    = []byte("nodes")    // node id → clusterpb.NodeRecord
	keyApplied     = []byte("applied")
)

// initialMmap is the initial size of the FSM file's memory map.
const initialMmap = 256 << 20

// ErrClosed is returned by the read methods of a closed FSM.
var ErrClosed = errors.New("fsm: closed")

// ErrUnknownCommand is wrapped by the error of an entry that carries a
// command type the table does not know.
var ErrUnknownCommand = errors.New("fsm: unknown command type")

// Notifier hears about every change of the state, after it is committed to
// the file, in log order, on Raft's FSM goroutine. Its methods must not
// block for long (they hold up the FSM) and must not call back into Raft.
type Notifier interface {
	// RetainedChanged reports the new retained message of topic; m is nil
	// when it was removed. m must not be modified.
	RetainedChanged(topic string, m *clusterpb.RetainedMessage)
	// NodeChanged reports a changed registry record.
	NodeChanged(r *clusterpb.NodeRecord)
	// Restored reports that a snapshot replaced the whole state: read it
	// again (Retained, Nodes).
	Restored()
}

// Options configure an FSM.
type Options struct {
	Path     string       // the bbolt file; created when missing
	Notifier Notifier     // nil: nobody is told
	Logger   *slog.Logger // nil: slog.Default
}

// FSM implements raft.FSM and raft.BatchingFSM over a bbolt file.
type FSM struct {
	path   string
	notify Notifier
	log    *slog.Logger

	// mu guards db against Restore swapping it: readers hold it shared.
	mu sync.RWMutex
	db *bbolt.DB

	applied  atomic.Uint64
	waitMu   sync.Mutex
	advanced chan struct{} // closed and replaced when applied moves

	stats struct {
		entries, commands, rejected, skipped, restores, restoresSkipped atomic.Int64
	}
}

// Stats counts what the FSM did since Open.
type Stats struct {
	Applied         uint64 // applied index
	Entries         int64  // command entries applied
	Commands        int64  // commands applied
	Rejected        int64  // entries rejected (unknown or bad command)
	Skipped         int64  // entries at or below the applied index, skipped
	Restores        int64  // snapshots restored into a fresh file
	RestoresSkipped int64  // snapshots not newer than the state, skipped
}

// Open opens (or creates) the FSM file.
func Open(opts Options) (*FSM, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &FSM{path: opts.Path, notify: opts.Notifier, log: opts.Logger, advanced: make(chan struct{})}
	if f.notify == nil {
		f.notify = nopNotifier{}
	}
	db, applied, err := openDB(opts.Path)
	if err != nil {
		return nil, err
	}
	f.db = db
	f.applied.Store(applied)
	return f, nil
}

func openDB(path string) (*bbolt.DB, uint64, error) {
	// A read transaction open for a snapshot being persisted keeps a
	// writer from re-mapping the file; a large initial mapping (address
	// space, not memory) makes that rare, so Apply seldom waits for a
	// snapshot to finish streaming.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second, InitialMmapSize: initialMmap})
	if err != nil {
		return nil, 0, fmt.Errorf("fsm: open %s: %w", path, err)
	}
	var applied uint64
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketRetained, bucketExpiry, bucketNodes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keyApplied); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, 0, fmt.Errorf("fsm: %s: %w", path, err)
	}
	return db, applied, nil
}

// Close closes the file. Raft must be shut down first.
func (f *FSM) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	f.db = nil
	return err
}

// AppliedIndex returns the index of the last entry applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// WaitApplied waits until the entry at index has been applied, or ctx is
// done.
func (f *FSM) WaitApplied(ctx context.Context, index uint64) error {
	for {
		f.waitMu.Lock()
		ch := f.advanced
		f.waitMu.Unlock()
		if f.applied.Load() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *FSM) setApplied(index uint64) {
	f.applied.Store(index)
	f.waitMu.Lock()
	close(f.advanced)
	f.advanced = make(chan struct{})
	f.waitMu.Unlock()
}

// Stats returns the counters.
func (f *FSM) Stats() Stats {
	s := &f.stats
	return Stats{
		Applied: f.applied.Load(), Entries: s.entries.Load(), Commands: s.commands.Load(),
		Rejected: s.rejected.Load(), Skipped: s.skipped.Load(),
		Restores: s.restores.Load(), RestoresSkipped: s.restoresSkipped.Load(),
	}
}

// applyCtx is the state of one transaction applying entries: the entry's
// time and the notifications to send once it commits.
type applyCtx struct {
	n     Notifier
	tx    *bbolt.Tx
	time  int64
	notes []func()
}

// op is a decoded command, ready to apply.
type op func(a *applyCtx) error

// decoder turns a command body into an op; it must not touch the state.
type decoder func(body []byte) (op, error)

// commands is the dispatch table, by command type.
var commands = [256]decoder{
	CmdSetRetained:    decodeSetRetained,
	CmdDeleteRetained: decodeDeleteRetained,
	CmdExpireRetained: decodeExpireRetained,
	CmdSetNode:        decodeSetNode,
}

// decodeEntry validates a whole entry and returns its time and ops, or the
// reason it is rejected.
func decodeEntry(data []byte) (int64, []op, error) {
	if len(data) == 0 || data[0] != EntryBatch {
		t := -1
		if len(data) > 0 {
			t = int(data[0])
		}
		return 0, nil, fmt.Errorf("%w: entry type %d", ErrUnknownCommand, t)
	}
	var e clusterpb.RaftEntry
	if err := proto.Unmarshal(data[1:], &e); err != nil {
		return 0, nil, fmt.Errorf("fsm: bad entry: %w", err)
	}
	ops := make([]op, 0, len(e.GetCommands()))
	for i, c := range e.GetCommands() {
		if len(c) == 0 {
			return 0, nil, fmt.Errorf("fsm: command %d: empty", i)
		}
		dec := commands[c[0]]
		if dec == nil {
			return 0, nil, fmt.Errorf("%w %d (command %d of the entry)", ErrUnknownCommand, c[0], i)
		}
		o, err := dec(c[1:])
		if err != nil {
			return 0, nil, fmt.Errorf("fsm: command %d (type %d): %w", i, c[0], err)
		}
		ops = append(ops, o)
	}
	return e.GetTime(), ops, nil
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: the entries are applied in one
// bbolt transaction, which also records the last index. Each response is
// nil or the error that rejected the entry.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	f.mu.RLock()
	defer f.mu.RUnlock()
	applied := f.applied.Load()
	last := applied
	var notes []func()
	err := f.db.Update(func(tx *bbolt.Tx) error {
		a := &applyCtx{n: f.notify, tx: tx}
		for i, l := range logs {
			if l.Index <= applied {
				f.stats.skipped.Add(1)
				continue
			}
			last = max(last, l.Index)
			if l.Type != raft.LogCommand {
				continue // configuration changes only move the index
			}
			t, ops, err := decodeEntry(l.Data)
			if err != nil {
				f.stats.rejected.Add(1)
				f.log.Error("fsm: entry rejected", "index", l.Index, "term", l.Term, "err", err)
				resp[i] = err
				continue
			}
			a.time = t
			for _, o := range ops {
				if err := o(a); err != nil {
					return fmt.Errorf("index %d: %w", l.Index, err)
				}
			}
			f.stats.entries.Add(1)
			f.stats.commands.Add(int64(len(ops)))
		}
		if last == applied {
			return nil
		}
		notes = a.notes
		return tx.Bucket(bucketMeta).Put(keyApplied, binary.BigEndian.AppendUint64(nil, last))
	})
	if err != nil {
		// The file cannot be written: this node's state would silently
		// fall behind the others'. Stop; on restart Raft replays from the
		// applied index.
		panic(fmt.Sprintf("fsm: cannot write %s: %v", f.path, err))
	}
	if last != applied {
		f.setApplied(last)
	}
	for _, n := range notes {
		n()
	}
	return resp
}

type nopNotifier struct{}

func (nopNotifier) RetainedChanged(string, *clusterpb.RetainedMessage) {}
func (nopNotifier) NodeChanged(*clusterpb.NodeRecord)                  {}
func (nopNotifier) Restored()                                          {}

// Retained calls fn for every retained message, in topic order, until fn
// returns false. The messages are the caller's.
func (f *FSM) Retained(fn func(m *clusterpb.RetainedMessage) bool) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return ErrClosed
	}
	return f.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketRetained).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			m := new(clusterpb.RetainedMessage)
			if err := proto.Unmarshal(v, m); err != nil {
				return fmt.Errorf("fsm: retained %q: %w", k, err)
			}
			if !fn(m) {
				return nil
			}
		}
		return nil
	})
}

// RetainedCount returns the number of retained messages.
func (f *FSM) RetainedCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := 0
	if f.db == nil {
		return 0
	}
	f.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketRetained).Stats().KeyN
		return nil
	})
	return n
}

// NextExpiry returns the earliest expires_at of the retained messages, 0
// when none expires.
func (f *FSM) NextExpiry() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var at int64
	if f.db == nil {
		return 0
	}
	f.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(bucketExpiry).Cursor().First(); len(k) >= 8 {
			at = int64(binary.BigEndian.Uint64(k))
		}
		return nil
	})
	return at
}

// Nodes returns the node registry.
func (f *FSM) Nodes() ([]*clusterpb.NodeRecord, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	var out []*clusterpb.NodeRecord
	err := f.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			r := new(clusterpb.NodeRecord)
			if err := proto.Unmarshal(v, r); err != nil {
				return fmt.Errorf("fsm: node %q: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// removeFile deletes path if it exists.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
