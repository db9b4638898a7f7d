package fsm_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/mqttio/mqttio/cluster/fsm"
	clusterpb "github.com/mqttio/mqttio/proto"
)

// recorder is a Notifier that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	events   []string
	restored int
}

func (r *recorder) RetainedChanged(topic string, m *clusterpb.RetainedMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m == nil {
		r.events = append(r.events, "del "+topic)
		return
	}
	r.events = append(r.events, "set "+topic+"="+string(m.GetPayload()))
}

func (r *recorder) NodeChanged(n *clusterpb.NodeRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	state := "down"
	if n.GetAlive() {
		state = "up"
	}
	r.events = append(r.events, "node "+n.GetNodeId()+" "+state)
}

func (r *recorder) Restored() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restored++
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func open(t *testing.T, path string, n fsm.Notifier, log *slog.Logger) *fsm.FSM {
	t.Helper()
	f, err := fsm.Open(fsm.Options{Path: path, Notifier: n, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func cmd(t *testing.T, typ byte, body proto.Message) []byte {
	t.Helper()
	b, err := fsm.Command(typ, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func set(t *testing.T, topic, payload string, expiryMs int64) []byte {
	return cmd(t, fsm.CmdSetRetained, &clusterpb.SetRetained{Message: &clusterpb.RetainedMessage{
		Topic: topic, Payload: []byte(payload), Qos: 1, ExpiryMs: expiryMs}})
}

func del(t *testing.T, topic string) []byte {
	return cmd(t, fsm.CmdDeleteRetained, &clusterpb.DeleteRetained{Topic: topic})
}

// entry builds a command log entry at index with the given time.
func entry(t *testing.T, index uint64, at int64, cmds ...[]byte) *raft.Log {
	t.Helper()
	b, err := fsm.Entry(at, cmds)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: b}
}

func apply(t *testing.T, f *fsm.FSM, l *raft.Log) {
	t.Helper()
	if r := f.Apply(l); r != nil {
		t.Fatalf("apply %d: %v", l.Index, r)
	}
}

// retained returns topic=payload for every retained message.
func retained(t *testing.T, f *fsm.FSM) string {
	t.Helper()
	var out []string
	err := f.Retained(func(m *clusterpb.RetainedMessage) bool {
		out = append(out, m.GetTopic()+"="+string(m.GetPayload()))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

// sink is an in-memory raft.SnapshotSink.
type sink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *sink) ID() string    { return "test" }
func (s *sink) Close() error  { s.closed = true; return nil }
func (s *sink) Cancel() error { s.cancelled = true; return nil }

func snapshot(t *testing.T, f *fsm.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var s sink
	if err := snap.Persist(&s); err != nil || !s.closed {
		t.Fatalf("persist: %v (closed %v)", err, s.closed)
	}
	return s.Bytes()
}

var t0 = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).UnixNano()

// TestRoundTrip applies commands, snapshots, changes the state further
// (the snapshot must not see it), and restores the snapshot into a fresh
// FSM and into the changed one.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	f := open(t, filepath.Join(dir, "a.db"), rec, nil)
	apply(t, f, entry(t, 1, t0, set(t, "a/1", "one", 0), set(t, "a/2", "two", 0), set(t, "a/3", "three", 0)))
	apply(t, f, entry(t, 2, t0, del(t, "a/2"),
		cmd(t, fsm.CmdSetNode, &clusterpb.SetNode{NodeId: "n1", Alive: true, StartId: 7})))
	if got, want := strings.Join(rec.take(), ","), "set a/1=one,set a/2=two,set a/3=three,del a/2,node n1 up"; got != want {
		t.Fatalf("notifications %q, want %q", got, want)
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Applies go on while the snapshot is open; it keeps its view.
	apply(t, f, entry(t, 3, t0, set(t, "a/1", "changed", 0), set(t, "a/4", "four", 0)))
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if got := retained(t, f); got != "a/1=changed a/3=three a/4=four" {
		t.Fatalf("live state %q", got)
	}

	// Into a fresh FSM.
	rec2 := &recorder{}
	g := open(t, filepath.Join(dir, "b.db"), rec2, nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := retained(t, g); got != "a/1=one a/3=three" {
		t.Fatalf("restored state %q, want the snapshot's view", got)
	}
	if g.AppliedIndex() != 2 || rec2.restored != 1 {
		t.Fatalf("restored: applied %d, Restored() called %d times", g.AppliedIndex(), rec2.restored)
	}
	nodes, _ := g.Nodes()
	if len(nodes) != 1 || nodes[0].GetNodeId() != "n1" || !nodes[0].GetAlive() || nodes[0].GetSince() != t0 {
		t.Fatalf("restored nodes %v", nodes)
	}
	// Entries after the snapshot apply on top of it.
	apply(t, g, entry(t, 3, t0, set(t, "a/1", "changed", 0), set(t, "a/4", "four", 0)))
	if got := retained(t, g); got != "a/1=changed a/3=three a/4=four" {
		t.Fatalf("after replay %q", got)
	}

	// Into an FSM that is already past it: kept (Raft restores its last
	// snapshot at start).
	if err := f.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := retained(t, f); got != "a/1=changed a/3=three a/4=four" || f.Stats().RestoresSkipped != 1 {
		t.Fatalf("older snapshot replaced a newer state: %q %+v", got, f.Stats())
	}

	// A newer snapshot replaces a stale state, and the file stays usable
	// after a reopen.
	h := open(t, filepath.Join(dir, "c.db"), nil, nil)
	apply(t, h, entry(t, 1, t0, set(t, "stale", "x", 0)))
	if err := h.Restore(io.NopCloser(bytes.NewReader(snapshot(t, f)))); err != nil {
		t.Fatal(err)
	}
	if got := retained(t, h); got != "a/1=changed a/3=three a/4=four" || h.AppliedIndex() != 3 {
		t.Fatalf("after restore over a stale state: %q at %d", got, h.AppliedIndex())
	}
	h.Close()
	h = open(t, filepath.Join(dir, "c.db"), nil, nil)
	if got := retained(t, h); got != "a/1=changed a/3=three a/4=four" || h.AppliedIndex() != 3 {
		t.Fatalf("after reopen: %q at %d", got, h.AppliedIndex())
	}

	// Garbage is refused and changes nothing.
	if err := h.Restore(io.NopCloser(strings.NewReader("not a snapshot at all, no"))); err == nil {
		t.Fatal("restored garbage")
	}
	if got := retained(t, h); got != "a/1=changed a/3=three a/4=four" {
		t.Fatalf("after a refused restore: %q", got)
	}
}

// TestAppliedIndexPersisted checks that the applied index travels with the
// data: after a reopen the state and index agree, and Raft's replay of
// entries at or below it changes nothing.
func TestAppliedIndexPersisted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fsm.db")
	f := open(t, path, nil, nil)
	e1 := entry(t, 1, t0, set(t, "k", "v1", 0))
	e2 := entry(t, 2, t0, set(t, "k", "v2", 0))
	apply(t, f, e1)
	// A batch: one transaction, the index of its last entry. Index 4 is a
	// configuration change: it only moves the index.
	resp := f.ApplyBatch([]*raft.Log{e2, entry(t, 3, t0, set(t, "j", "w", 0)), {Index: 4, Term: 1, Type: raft.LogConfiguration}})
	if len(resp) != 3 || resp[0] != nil || resp[1] != nil || resp[2] != nil {
		t.Fatalf("responses %v", resp)
	}
	if f.AppliedIndex() != 4 {
		t.Fatalf("applied %d, want 4", f.AppliedIndex())
	}
	f.Close()

	rec := &recorder{}
	f = open(t, path, rec, nil)
	if f.AppliedIndex() != 4 || retained(t, f) != "j=w k=v2" {
		t.Fatalf("reopened at %d with %q", f.AppliedIndex(), retained(t, f))
	}
	// Raft replays from its last snapshot: e1 again must not undo e2.
	for _, l := range []*raft.Log{e1, e2} {
		apply(t, f, l)
	}
	if got := retained(t, f); got != "j=w k=v2" || len(rec.take()) != 0 || f.Stats().Skipped != 2 {
		t.Fatalf("replay changed the state: %q, stats %+v", got, f.Stats())
	}
	apply(t, f, entry(t, 5, t0, del(t, "k")))
	if got := retained(t, f); got != "j=w" || f.AppliedIndex() != 5 {
		t.Fatalf("after a new entry: %q at %d", got, f.AppliedIndex())
	}
}

// TestUnknownCommand checks that an entry carrying an unknown command type
// (or an unknown entry type) fails loudly: an error from Apply, an error
// log, nothing of the entry applied, and the index still moves (every node
// rejects it alike).
func TestUnknownCommand(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
	rec := &recorder{}
	f := open(t, filepath.Join(t.TempDir(), "fsm.db"), rec, log)

	bad := entry(t, 1, t0, set(t, "good", "g", 0), append([]byte{99}, "whatever"...))
	r := f.Apply(bad)
	err, _ := r.(error)
	if !errors.Is(err, fsm.ErrUnknownCommand) {
		t.Fatalf("Apply returned %v, want ErrUnknownCommand", r)
	}
	if !strings.Contains(logs.String(), "entry rejected") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("no error log: %q", logs.String())
	}
	if got := retained(t, f); got != "" || len(rec.take()) != 0 {
		t.Fatalf("a rejected entry changed the state: %q", got)
	}
	if f.AppliedIndex() != 1 || f.Stats().Rejected != 1 {
		t.Fatalf("applied %d, stats %+v", f.AppliedIndex(), f.Stats())
	}

	// An unknown entry type, and a known command with a body that does
	// not decode.
	for i, data := range [][]byte{{42, 1, 2, 3}, {}, mustEntry(t, []byte{fsm.CmdSetRetained, 0xff, 0xff})} {
		r := f.Apply(&raft.Log{Index: uint64(2 + i), Type: raft.LogCommand, Data: data})
		if _, ok := r.(error); !ok {
			t.Fatalf("entry %d (% x): Apply returned %v, want an error", i, data, r)
		}
	}
	if f.Stats().Rejected != 4 || f.AppliedIndex() != 4 {
		t.Fatalf("stats %+v", f.Stats())
	}
	// Good entries still apply.
	apply(t, f, entry(t, 5, t0, set(t, "good", "g", 0)))
	if got := retained(t, f); got != "good=g" {
		t.Fatalf("state %q", got)
	}
}

func mustEntry(t *testing.T, cmds ...[]byte) []byte {
	b, err := fsm.Entry(t0, cmds)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStampedTime checks that Apply takes its time from the entry, never
// from the clock: expiry is computed from it and ExpireRetained compares
// with it; the registry records it. The times are years in the past, so a
// clock read anywhere would show.
func TestStampedTime(t *testing.T) {
	f := open(t, filepath.Join(t.TempDir(), "fsm.db"), nil, nil)
	sec := int64(time.Second)
	apply(t, f, entry(t, 1, t0,
		set(t, "short", "s", 1000), // expires at t0+1s
		set(t, "long", "l", 60000), // t0+60s
		set(t, "never", "n", 0),
		cmd(t, fsm.CmdSetNode, &clusterpb.SetNode{NodeId: "n1", Alive: true, StartId: 1})))
	var exp []int64
	f.Retained(func(m *clusterpb.RetainedMessage) bool {
		exp = append(exp, m.GetExpiresAt())
		if m.GetSetAt() != t0 {
			t.Errorf("%s: set_at %d, want the entry time %d", m.GetTopic(), m.GetSetAt(), t0)
		}
		return true
	})
	// Topic order: long, never, short.
	if len(exp) != 3 || exp[0] != t0+60*sec || exp[1] != 0 || exp[2] != t0+sec {
		t.Fatalf("expires_at %v", exp)
	}
	if f.NextExpiry() != t0+sec {
		t.Fatalf("next expiry %d, want %d", f.NextExpiry(), t0+sec)
	}

	expire := cmd(t, fsm.CmdExpireRetained, &clusterpb.ExpireRetained{})
	apply(t, f, entry(t, 2, t0+sec/2, expire)) // nothing due yet at t0+0.5s
	if got := retained(t, f); got != "long=l never=n short=s" {
		t.Fatalf("at t0+0.5s: %q", got)
	}
	apply(t, f, entry(t, 3, t0+2*sec, expire))
	if got := retained(t, f); got != "long=l never=n" {
		t.Fatalf("at t0+2s: %q", got)
	}
	// Replacing a message moves its expiry: the old index key goes.
	apply(t, f, entry(t, 4, t0+3*sec, set(t, "long", "l2", 1000)))
	apply(t, f, entry(t, 5, t0+59*sec, expire))
	if got := retained(t, f); got != "never=n" || f.NextExpiry() != 0 {
		t.Fatalf("at t0+59s: %q, next expiry %d", got, f.NextExpiry())
	}

	// The registry: since is the entry time of the last change.
	apply(t, f, entry(t, 6, t0+70*sec, cmd(t, fsm.CmdSetNode, &clusterpb.SetNode{NodeId: "n1", Alive: true, StartId: 1})))
	apply(t, f, entry(t, 7, t0+80*sec, cmd(t, fsm.CmdSetNode, &clusterpb.SetNode{NodeId: "n1", Alive: false})))
	apply(t, f, entry(t, 8, t0+90*sec, cmd(t, fsm.CmdSetNode, &clusterpb.SetNode{NodeId: "n1", Alive: false})))
	nodes, err := f.Nodes()
	if err != nil || len(nodes) != 1 {
		t.Fatal(nodes, err)
	}
	if n := nodes[0]; n.GetAlive() || n.GetSince() != t0+80*sec || n.GetStartId() != 1 {
		t.Fatalf("node record %v: want down since t0+80s, last incarnation 1", n)
	}
}

// TestWaitApplied checks the wait the proposer uses for read-your-writes.
func TestWaitApplied(t *testing.T) {
	f := open(t, filepath.Join(t.TempDir(), "fsm.db"), nil, nil)
	done := make(chan error, 1)
	go func() { done <- f.WaitApplied(t.Context(), 2) }()
	apply(t, f, entry(t, 1, t0, set(t, "a", "1", 0)))
	select {
	case err := <-done:
		t.Fatalf("returned at index 1: %v", err)
	default:
	}
	apply(t, f, entry(t, 2, t0, set(t, "a", "2", 0)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
