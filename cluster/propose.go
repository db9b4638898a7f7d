package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/cluster/fsm"
	clusterpb "github.com/mqttio/mqttio/proto"
)

// Errors of proposals.
var (
	// ErrProposeTimeout: the change was not committed within
	// Config.ProposeTimeout (no leader reachable with a quorum: this node
	// is on the minority side of a partition, or the cluster lost its
	// quorum). It may still be committed later.
	ErrProposeTimeout = errors.New("cluster: not committed within cluster.propose_timeout (no quorum reachable)")
	// ErrClosed: the node is closing.
	ErrClosed = errors.New("cluster: node closed")
	// ErrRejected wraps the error of an entry the FSM rejected.
	ErrRejected = errors.New("cluster: entry rejected by the state machine")
)

// notLeader is the status message of a Propose or RemoveServer sent to a
// node that is not the leader: the only error a proposer retries.
const notLeader = "not leader"

// maxEntryBytes bounds the commands gathered into one log entry; a single
// larger command travels alone.
const maxEntryBytes = 4 << 20

// proposal is one command waiting to be proposed, with everyone waiting
// for it. Retained-message proposals are keyed by topic: a newer one for
// the same topic replaces the command of one still queued (latest wins)
// and joins its waiters.
type proposal struct {
	cmd      []byte
	key      string
	dones    []func(error)
	deadline time.Time
}

// proposer batches proposals: one goroutine takes whatever is queued,
// proposes it as one entry (or forwards it to the leader), waits for the
// commit, and starts over. While an entry is in flight the next batch
// gathers, so no timer is needed, and one node's entries commit in
// submission order. A second goroutine completes the waiters of committed
// entries, in order, once this node's FSM has applied them (read your
// writes), so the next entry need not wait for that.
type proposer struct {
	r *raftNode

	mu     sync.Mutex
	queue  []*proposal
	byKey  map[string]*proposal
	closed bool
	wake   chan struct{} // capacity 1

	ctx       context.Context // cancelled by close
	cancel    context.CancelFunc
	exited    chan struct{}
	committed chan committedBatch // to the completer, in commit order
}

// committedBatch is an entry committed at index, whose waiters are
// released once this node applied it (or at deadline).
type committedBatch struct {
	index    uint64
	deadline time.Time
	props    []*proposal
}

func newProposer(r *raftNode) *proposer {
	p := &proposer{r: r, byKey: make(map[string]*proposal), wake: make(chan struct{}, 1), exited: make(chan struct{}),
		committed: make(chan committedBatch, 64)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// submit queues cmd; done (if not nil) is called once, with nil after the
// commit and this node's apply, or with the error. It may be called
// before submit returns (node closed).
func (p *proposer) submit(cmd []byte, key string, done func(error)) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	p.r.stats.proposed.Add(1)
	if key != "" {
		if q := p.byKey[key]; q != nil {
			q.cmd = cmd
			if done != nil {
				q.dones = append(q.dones, done)
			}
			p.mu.Unlock()
			p.r.stats.coalesced.Add(1)
			return
		}
	}
	pr := &proposal{cmd: cmd, key: key, deadline: time.Now().Add(p.r.n.cfg.ProposeTimeout)}
	if done != nil {
		pr.dones = []func(error){done}
	}
	p.queue = append(p.queue, pr)
	if key != "" {
		p.byKey[key] = pr
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take removes and returns what is queued, up to maxEntryBytes.
func (p *proposer) take() []*proposal {
	p.mu.Lock()
	defer p.mu.Unlock()
	size, k := 0, 0
	for k < len(p.queue) && (k == 0 || size+len(p.queue[k].cmd) <= maxEntryBytes) {
		size += len(p.queue[k].cmd)
		k++
	}
	batch := make([]*proposal, k)
	copy(batch, p.queue[:k])
	for _, pr := range batch {
		if pr.key != "" {
			delete(p.byKey, pr.key)
		}
	}
	clear(p.queue[:k])
	p.queue = p.queue[k:]
	if len(p.queue) == 0 {
		p.queue = nil
	}
	return batch
}

func (p *proposer) run() {
	defer p.r.n.wg.Done()
	defer close(p.exited)
	completed := make(chan struct{})
	go p.complete(completed)
	defer func() {
		close(p.committed)
		<-completed
	}()
	for {
		select {
		case <-p.ctx.Done():
			p.failQueued()
			return
		case <-p.wake:
		}
		for {
			batch := p.take()
			if len(batch) == 0 {
				break
			}
			p.commit(batch)
		}
	}
}

// close fails what is queued and stops the goroutine (after its current
// batch, whose waiters get an error if Raft is shutting down).
func (p *proposer) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
}

func (p *proposer) failQueued() {
	for {
		batch := p.take()
		if len(batch) == 0 {
			return
		}
		for _, pr := range batch {
			p.finish(pr, ErrClosed)
		}
	}
}

func (p *proposer) finish(pr *proposal, err error) {
	if err != nil {
		p.r.stats.failed.Add(int64(1 + max(len(pr.dones)-1, 0)))
	} else {
		p.r.stats.committed.Add(1)
	}
	for _, d := range pr.dones {
		d(err)
	}
}

// commit proposes one batch and completes its waiters.
func (p *proposer) commit(batch []*proposal) {
	now := time.Now()
	live := batch[:0]
	var deadline time.Time
	for _, pr := range batch {
		if !now.Before(pr.deadline) {
			p.finish(pr, ErrProposeTimeout)
			continue
		}
		if deadline.IsZero() || pr.deadline.Before(deadline) {
			deadline = pr.deadline
		}
		live = append(live, pr)
	}
	if len(live) == 0 {
		return
	}
	cmds := make([][]byte, len(live))
	for i, pr := range live {
		cmds[i] = pr.cmd
	}
	ctx, cancel := context.WithDeadline(p.ctx, deadline)
	defer cancel()
	index, err := p.propose(ctx, cmds)
	if err != nil {
		for _, pr := range live {
			p.finish(pr, err)
		}
		return
	}
	p.r.stats.entries.Add(1)
	p.committed <- committedBatch{index: index, deadline: deadline, props: live}
}

// complete releases the waiters of committed entries once this node's FSM
// applied them: what a waiter is told is committed is in this node's state
// when it hears so. The commit is what counts: past the deadline (or at
// close) the waiters are released anyway.
func (p *proposer) complete(done chan<- struct{}) {
	defer close(done)
	for cb := range p.committed {
		if p.r.fsm.AppliedIndex() < cb.index {
			ctx, cancel := context.WithDeadline(p.ctx, cb.deadline)
			if err := p.r.fsm.WaitApplied(ctx, cb.index); err != nil && p.ctx.Err() == nil {
				p.r.log.Debug("cluster: committed entry not yet applied here at the deadline", "index", cb.index)
			}
			cancel()
		}
		for _, pr := range cb.props {
			p.finish(pr, nil)
		}
	}
}

// propose commits cmds as one entry: directly when this node leads, else
// through the leader's Propose RPC. It retries only while there is no
// leader or the one asked is not (or no longer) the leader.
func (p *proposer) propose(ctx context.Context, cmds [][]byte) (uint64, error) {
	r := p.r
	backoff := 5 * time.Millisecond
	var last error
	for {
		if err := ctx.Err(); err != nil {
			if p.ctx.Err() != nil {
				return 0, ErrClosed
			}
			if last != nil {
				return 0, fmt.Errorf("%w (last: %v)", ErrProposeTimeout, last)
			}
			return 0, ErrProposeTimeout
		}
		if r.raft.State() == raft.Leader {
			index, err := r.applyLocal(ctx, cmds)
			if !errors.Is(err, raft.ErrNotLeader) {
				return index, err
			}
			last = err
		} else if index, retry, err := p.forward(ctx, cmds); !retry {
			return index, err
		} else {
			last = err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// forward sends cmds to the leader; retry reports a "not leader" (or no
// leader known yet).
func (p *proposer) forward(ctx context.Context, cmds [][]byte) (index uint64, retry bool, err error) {
	r := p.r
	n := r.n
	_, id := r.raft.LeaderWithID()
	if id == "" || string(id) == n.cfg.NodeID {
		return 0, true, errors.New("no leader")
	}
	mb := n.table.latest(string(id))
	if mb == nil {
		return 0, true, fmt.Errorf("leader %s not known to gossip", id)
	}
	if n.faults.isolated.Load() {
		// A partition: the leader's address does not answer.
		<-ctx.Done()
		return 0, true, errIsolated
	}
	resp, err := mb.peer.client.Propose(ctx, &clusterpb.ProposeRequest{Commands: cmds})
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition && st.Message() == notLeader {
			return 0, true, err
		}
		if ctx.Err() != nil {
			return 0, true, err // the loop reports the timeout
		}
		return 0, false, fmt.Errorf("cluster: forwarding to the leader %s: %w", id, err)
	}
	r.stats.forwarded.Add(1)
	if e := resp.GetApplyError(); e != "" {
		return resp.GetIndex(), false, fmt.Errorf("%w: %s", ErrRejected, e)
	}
	return resp.GetIndex(), false, nil
}

// rejection is the error of a committed entry the FSM refused.
type rejection struct{ reason error }

func (e rejection) Error() string { return ErrRejected.Error() + ": " + e.reason.Error() }
func (e rejection) Unwrap() error { return ErrRejected }

// applyLocal proposes cmds as one entry stamped with this (the leader's)
// clock and waits for it to be applied here. A committed entry the FSM
// refused returns its index and a rejection.
func (r *raftNode) applyLocal(ctx context.Context, cmds [][]byte) (uint64, error) {
	entry, err := fsm.Entry(time.Now().UnixNano(), cmds)
	if err != nil {
		return 0, err
	}
	timeout := r.n.cfg.ProposeTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	f := r.raft.Apply(entry, timeout)
	if err := r.wait(f); err != nil {
		return 0, err
	}
	if r.raft.LastIndex() == f.Index() {
		// Nothing follows it: the followers would learn of the commit
		// only at the next CommitTimeout. A barrier entry carries the new
		// commit index to them now (the FSM never sees it).
		r.raft.Barrier(time.Millisecond)
	}
	if e, ok := f.Response().(error); ok && e != nil {
		return f.Index(), rejection{e}
	}
	return f.Index(), nil
}

// Propose serves a follower's batch (the Cluster gRPC service).
func (s *service) Propose(ctx context.Context, req *clusterpb.ProposeRequest) (*clusterpb.ProposeResponse, error) {
	n := s.n
	r := n.raft
	if r == nil || r.raft == nil {
		return nil, status.Error(codes.FailedPrecondition, "raft not enabled")
	}
	if n.faults.isolated.Load() {
		return nil, status.Error(codes.Unavailable, errIsolated.Error())
	}
	if len(req.GetCommands()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no commands")
	}
	if r.raft.State() != raft.Leader {
		return nil, status.Error(codes.FailedPrecondition, notLeader)
	}
	index, err := r.applyLocal(ctx, req.GetCommands())
	var rj rejection
	switch {
	case errors.As(err, &rj):
		return &clusterpb.ProposeResponse{Index: index, ApplyError: rj.reason.Error()}, nil
	case errors.Is(err, raft.ErrNotLeader):
		return nil, status.Error(codes.FailedPrecondition, notLeader)
	case err != nil:
		// Leadership lost while committing: the entry may or may not
		// commit; the proposer must not retry blindly.
		return nil, status.Errorf(codes.Aborted, "%v", err)
	}
	return &clusterpb.ProposeResponse{Index: index}, nil
}

// latest returns the latest incarnation of nodeID among the members, or
// nil.
func (t *routeTable) latest(nodeID string) *member {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *member
	for _, mb := range t.members {
		if mb.nodeID == nodeID && (best == nil || mb.startAt > best.startAt) {
			best = mb
		}
	}
	return best
}

// ReplicateRetained implements broker.RetainedReplicator: the change
// (m with an empty payload deletes the topic's retained message) is
// proposed through Raft, coalesced with later changes of the same topic
// while it waits, and every node applies it to its retained index when it
// commits. done is called after the commit and this node's apply, or with
// ErrProposeTimeout (no quorum within Config.ProposeTimeout), ErrClosed
// or ErrRejected. It reports false when the node runs without Raft.
func (n *Node) ReplicateRetained(m *broker.Message, done func(error)) bool {
	r := n.raft
	if r == nil {
		return false
	}
	cmd, err := retainedCommand(m, n.cfg.NodeID, time.Now().UnixNano())
	if err != nil {
		n.log.Error("cluster: cannot encode a retained message", "topic", m.Topic, "err", err)
		if done != nil {
			done(err)
		}
		return true
	}
	r.prop.submit(cmd, "retained\x00"+m.Topic, done)
	return true
}

// retainedCommand encodes the set (or delete) of m as a command.
func retainedCommand(m *broker.Message, nodeID string, now int64) ([]byte, error) {
	if len(m.Payload) == 0 {
		return fsm.Command(fsm.CmdDeleteRetained, &clusterpb.DeleteRetained{Topic: m.Topic})
	}
	rm := &clusterpb.RetainedMessage{
		Topic:      m.Topic,
		Payload:    m.Payload,
		Qos:        uint32(m.QoS),
		Properties: propsToPB(m.Props),
		Origin:     m.Origin,
		OriginNode: m.OriginNode,
	}
	if rm.OriginNode == "" {
		rm.OriginNode = nodeID
	}
	if m.Expiry != 0 {
		rm.ExpiryMs = max((m.Expiry-now)/int64(time.Millisecond), 1)
	}
	return fsm.Command(fsm.CmdSetRetained, &clusterpb.SetRetained{Message: rm})
}

// DeleteRetained removes the retained message of topic cluster-wide (for
// the admin API) and waits for the commit, or until ctx is done.
func (n *Node) DeleteRetained(ctx context.Context, topic string) error {
	return n.proposeWait(ctx, func(done func(error)) bool {
		return n.ReplicateRetained(&broker.Message{Topic: topic, Retain: true}, done)
	})
}

// proposeWait submits through submit and waits for the result.
func (n *Node) proposeWait(ctx context.Context, submit func(done func(error)) bool) error {
	ch := make(chan error, 1)
	if !submit(func(err error) { ch <- err }) {
		return ErrNoRaft
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
