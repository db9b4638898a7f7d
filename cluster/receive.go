package cluster

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mqttio/mqttio/broker"
	clusterpb "github.com/mqttio/mqttio/proto"
)

// recvKey names one sender stream: the sender's incarnation and the
// stream's index. Sequence numbers are per key.
type recvKey struct {
	startID uint64
	stream  uint32
}

// recvState is what the receiver remembers of a sender stream across its
// gRPC streams: the highest sequence delivered, within the sender's peer
// epoch (a sender that re-creates its peer restarts at 1 with a higher
// epoch). Its mutex is held while a batch is delivered, so an old gRPC
// stream still draining and the new one replaying never interleave.
type recvState struct {
	mu    sync.Mutex
	epoch uint64
	last  uint64
}

type receiver struct {
	mu     sync.Mutex
	states map[recvKey]*recvState
}

func (r *receiver) state(k recvKey) *recvState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.states[k]
	if st == nil {
		st = &recvState{}
		r.states[k] = st
	}
	return st
}

// forget drops the state of a departed sender incarnation.
func (r *receiver) forget(startID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.states {
		if k.startID == startID {
			delete(r.states, k)
		}
	}
}

// service implements the Cluster gRPC service.
type service struct {
	clusterpb.UnimplementedClusterServer
	n *Node
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Forward receives one sender stream: it delivers each batch to the local
// subscribers and acknowledges the QoS 1/2 messages, after the store
// commit when delivering wrote to it.
func (s *service) Forward(ss grpc.BidiStreamingServer[clusterpb.ForwardBatch, clusterpb.ForwardAck]) error {
	n := s.n
	md, _ := metadata.FromIncomingContext(ss.Context())
	start, err1 := strconv.ParseUint(first(md, mdStart), 10, 64)
	idx, err2 := strconv.ParseUint(first(md, mdStream), 10, 32)
	epoch, err3 := strconv.ParseUint(first(md, mdEpoch), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || start == 0 {
		return status.Error(codes.InvalidArgument, "bad stream metadata")
	}
	if to := first(md, mdTo); to != n.name {
		// Meant for an earlier incarnation of this node.
		return status.Errorf(codes.FailedPrecondition, "this is %s, not %s", n.name, to)
	}
	srv := n.srv.Load()
	st := n.recv.state(recvKey{start, uint32(idx)})
	st.mu.Lock()
	switch {
	case epoch < st.epoch:
		st.mu.Unlock()
		return status.Error(codes.FailedPrecondition, "superseded stream")
	case epoch > st.epoch:
		st.epoch, st.last = epoch, 0
	}
	st.mu.Unlock()

	a := &acker{ss: ss, signal: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	go a.run()
	defer a.stop()

	// Two stages, so decoding the next batch overlaps delivering this one:
	// this goroutine receives, the deliverer delivers, in order.
	batches := make(chan *clusterpb.ForwardBatch, 4)
	failed := make(chan error, 1)
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		for b := range batches {
			if err := a.err(); err != nil {
				failed <- status.Errorf(codes.Unavailable, "store: %v", err)
				return
			}
			if err := n.deliverBatch(srv, st, epoch, b, a); err != nil {
				failed <- err
				return
			}
		}
	}()
	defer func() {
		close(batches)
		<-delivered
	}()
	ctx := ss.Context()
	for {
		b, err := ss.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if gate := n.faults.recvGate.Load(); gate != nil {
			select {
			case <-*gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case batches <- b:
		case err := <-failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// deliverBatch delivers the messages of b not delivered before and
// queues the acknowledgement.
func (n *Node) deliverBatch(srv *broker.Server, st *recvState, epoch uint64, b *clusterpb.ForwardBatch, a *acker) error {
	var missed []*clusterpb.Missed
	ackable, persisted := false, false
	var received, dups int64
	st.mu.Lock()
	if st.epoch != epoch {
		st.mu.Unlock()
		return status.Error(codes.FailedPrecondition, "superseded stream")
	}
	now := time.Now().UnixNano()
	for _, pm := range b.GetMessages() {
		if seq := pm.GetSeq(); seq != 0 {
			ackable = true
			if seq <= st.last {
				dups++
				continue
			}
			st.last = seq
		}
		m := toMessage(pm, now)
		d := broker.Delivery{Normal: pm.GetNormal(), Groups: groupsFromPB(pm.GetGroups())}
		miss, p := srv.DeliverForwarded(m, d)
		persisted = persisted || p
		received++
		if len(miss) > 0 {
			n.stats.missedGroups.Add(int64(len(miss)))
			if pm.GetSeq() != 0 {
				missed = append(missed, &clusterpb.Missed{Seq: pm.GetSeq(), Groups: groupsToPB(miss)})
			}
		}
	}
	last := st.last
	st.mu.Unlock()
	n.stats.received.Add(received)
	n.stats.duplicates.Add(dups)
	if ackable {
		a.ack(srv, last, missed, persisted)
	}
	return nil
}

// toMessage rebuilds the broker's message from its wire form.
func toMessage(pm *clusterpb.ForwardMessage, now int64) *broker.Message {
	m := &broker.Message{
		Topic:      pm.GetTopic(),
		Payload:    pm.GetPayload(),
		QoS:        byte(min(pm.GetQos(), 2)),
		Retain:     pm.GetRetain(),
		Origin:     pm.GetOrigin(),
		OriginNode: pm.GetOriginNode(),
		Props:      propsFromPB(pm.GetProperties()),
	}
	if ms := pm.GetExpiryMs(); ms > 0 {
		m.Expiry = now + ms*int64(time.Millisecond)
	}
	return m
}

// acker sends a Forward stream's acknowledgements from its own goroutine.
// Acknowledgements are cumulative, so it sends only the latest; those
// waiting for a store commit keep their order because commits complete in
// order and every ack behind a waiting one waits too.
type acker struct {
	ss     grpc.BidiStreamingServer[clusterpb.ForwardBatch, clusterpb.ForwardAck]
	mu     sync.Mutex
	seq    uint64
	missed []*clusterpb.Missed
	dirty  bool
	commit int   // acks waiting for a store commit
	failed error // the store failed: stop acknowledging
	signal chan struct{}
	done   chan struct{}
	exited chan struct{}
}

func (a *acker) ack(srv *broker.Server, seq uint64, missed []*clusterpb.Missed, persisted bool) {
	a.mu.Lock()
	if persisted || a.commit > 0 {
		a.commit++
		a.mu.Unlock()
		srv.AfterCommit(func(err error) {
			a.mu.Lock()
			a.commit--
			if err != nil {
				a.failed = err
			} else if a.failed == nil {
				a.setLocked(seq, missed)
			}
			a.mu.Unlock()
			a.kick()
		})
		return
	}
	a.setLocked(seq, missed)
	a.mu.Unlock()
	a.kick()
}

func (a *acker) setLocked(seq uint64, missed []*clusterpb.Missed) {
	a.seq = max(a.seq, seq)
	a.missed = append(a.missed, missed...)
	a.dirty = true
}

func (a *acker) kick() {
	select {
	case a.signal <- struct{}{}:
	default:
	}
}

func (a *acker) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

func (a *acker) run() {
	defer close(a.exited)
	for {
		select {
		case <-a.done:
			return
		case <-a.signal:
		}
		a.mu.Lock()
		if !a.dirty {
			a.mu.Unlock()
			continue
		}
		msg := &clusterpb.ForwardAck{Seq: a.seq, Missed: a.missed}
		a.missed, a.dirty = nil, false
		a.mu.Unlock()
		if err := a.ss.Send(msg); err != nil {
			return
		}
	}
}

// stop ends the ack goroutine and waits for it: the stream must not be
// written after the handler returns.
func (a *acker) stop() {
	close(a.done)
	<-a.exited
}

// Routes sends this node's route table.
func (s *service) Routes(req *clusterpb.RoutesRequest, ss grpc.ServerStreamingServer[clusterpb.RouteChunk]) error {
	n := s.n
	if id := req.GetStartId(); id != 0 && id != n.startID {
		return status.Error(codes.FailedPrecondition, "another incarnation")
	}
	version, routes := n.local.snapshot()
	const chunk = 1000
	for first := true; first || len(routes) > 0; first = false {
		c := &clusterpb.RouteChunk{StartId: n.startID}
		if first {
			c.Version = version
		}
		k := min(len(routes), chunk)
		c.Routes = make([]*clusterpb.Route, k)
		for i, r := range routes[:k] {
			c.Routes[i] = &clusterpb.Route{Filter: r.Filter, Group: r.Group}
		}
		routes = routes[k:]
		if err := ss.Send(c); err != nil {
			return err
		}
	}
	return nil
}

// bytesOf views s as bytes without copying; the trie only reads it.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
