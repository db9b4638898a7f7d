package fsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// snapshotMagic starts every snapshot; the applied index and the size of
// the bbolt image follow (8 bytes each, big-endian), then the image.
var snapshotMagic = [8]byte{'m', 'q', 't', 't', 'f', 's', 'm', 1}

const headerLen = 8 + 8 + 8

// snapshot is a read-only view of the FSM file: a bbolt read transaction,
// opened on Raft's FSM goroutine between two applies, and streamed by
// Persist on Raft's snapshot goroutine while Apply goes on. Persist ends
// the transaction when it is done (raft.RecoverCluster never calls
// Release); a Restore that closes the file meanwhile waits for it.
type snapshot struct {
	tx      *bbolt.Tx
	applied uint64
	once    sync.Once
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, ErrClosed
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	return &snapshot{tx: tx, applied: f.applied.Load()}, nil
}

// Persist implements raft.FSMSnapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	err := s.write(sink)
	s.Release()
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) write(w io.Writer) error {
	var h [headerLen]byte
	copy(h[:8], snapshotMagic[:])
	binary.BigEndian.PutUint64(h[8:], s.applied)
	binary.BigEndian.PutUint64(h[16:], uint64(s.tx.Size()))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := s.tx.WriteTo(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() {
	s.once.Do(func() { s.tx.Rollback() })
}

// Restore implements raft.FSM: it replaces the state with the snapshot's,
// unless the snapshot is not newer than the state (Raft restores its last
// snapshot at every start; the file is already at or past it).
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var h [headerLen]byte
	if _, err := io.ReadFull(rc, h[:]); err != nil {
		return fmt.Errorf("fsm: restore: header: %w", err)
	}
	if [8]byte(h[:8]) != snapshotMagic {
		return errors.New("fsm: restore: not an mqttio FSM snapshot")
	}
	index := binary.BigEndian.Uint64(h[8:])
	size := int64(binary.BigEndian.Uint64(h[16:]))
	if cur := f.applied.Load(); index <= cur {
		f.stats.restoresSkipped.Add(1)
		f.log.Info("fsm: snapshot not newer than the state; kept the state", "snapshot_index", index, "applied", cur)
		return nil
	}

	// A fresh file next to the live one, checked before the swap.
	tmp := f.path + ".restore"
	if err := removeFile(tmp); err != nil {
		return err
	}
	if err := writeFile(tmp, io.LimitReader(rc, size), size); err != nil {
		removeFile(tmp)
		return fmt.Errorf("fsm: restore: %w", err)
	}
	db, applied, err := openDB(tmp)
	if err == nil {
		err = db.Close()
		if err == nil && applied != index {
			err = fmt.Errorf("image at index %d, header says %d", applied, index)
		}
	}
	if err != nil {
		removeFile(tmp)
		return fmt.Errorf("fsm: restore: %w", err)
	}

	f.mu.Lock()
	if err := f.db.Close(); err != nil {
		f.log.Warn("fsm: closing the replaced file", "err", err)
	}
	err = os.Rename(tmp, f.path)
	if err == nil {
		syncDir(filepath.Dir(f.path))
	}
	db, applied, err2 := openDB(f.path)
	if err2 != nil {
		f.mu.Unlock()
		// The old file is closed and maybe replaced: this node cannot go
		// on with a state it does not have.
		panic(fmt.Sprintf("fsm: reopening %s after restore: %v (rename: %v)", f.path, err2, err))
	}
	f.db = db
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	f.setApplied(applied)
	f.stats.restores.Add(1)
	f.log.Info("fsm: restored a snapshot", "index", applied)
	f.notify.Restored()
	return nil
}

// writeFile writes exactly size bytes of r to a new file and syncs it.
func writeFile(path string, r io.Reader, size int64) error {
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(fd, r)
	if err == nil && n != size {
		err = fmt.Errorf("snapshot truncated: %d of %d bytes", n, size)
	}
	if err == nil {
		err = fd.Sync()
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
