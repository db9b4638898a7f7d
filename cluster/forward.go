package cluster

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/topic"
	clusterpb "github.com/mqttio/mqttio/proto"
)

const (
	// maxGRPCMessage bounds one batch on the wire; a single MQTT message
	// may be up to 256 MiB.
	maxGRPCMessage = 300 << 20
	// grpcWindow is the HTTP/2 stream window. Fixed (which turns off the
	// bandwidth-delay estimator) so that a peer that stops reading pushes
	// back after a known amount, and the queue bounds mean something.
	grpcWindow = 1 << 20
	// msgOverhead is what a forwarded message costs beyond its topic,
	// payload and properties, for the queue accounting.
	msgOverhead = 48
	// maxDispatchTries bounds how many nodes a shared-subscription message
	// is offered to.
	maxDispatchTries = 3
)

// Request metadata of a Forward stream.
const (
	mdFrom   = "mqttio-from"
	mdStart  = "mqttio-start"
	mdStream = "mqttio-stream"
	mdTo     = "mqttio-to"
	mdEpoch  = "mqttio-epoch"
)

// fwdMsg is one message queued for one peer.
type fwdMsg struct {
	m      *broker.Message
	normal bool                 // for the peer's normal subscriptions
	groups []broker.SharedGroup // the shared groups the peer was picked for
	seq    uint64               // stream sequence, QoS 1/2 only, set when sent
	size   int
	tried  []*member // members already offered its groups
}

func messageSize(m *broker.Message) int {
	n := len(m.Topic) + len(m.Payload) + len(m.Origin) + msgOverhead
	if p := m.Props; p != nil {
		n += len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData)
		for _, u := range p.UserProperties {
			n += len(u.Key) + len(u.Value) + 4
		}
	}
	return n
}

// scratch is the per-call working space of Forward, pooled so that a
// publish allocates only what it queues.
type scratch struct {
	entries []topic.Entry[*member]
	groups  []*topic.Group[*member]
	targets []target
}

type target struct {
	mb     *member
	normal bool
	groups []broker.SharedGroup
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

func (sc *scratch) target(mb *member) *target {
	for i := range sc.targets {
		if sc.targets[i].mb == mb {
			return &sc.targets[i]
		}
	}
	sc.targets = append(sc.targets, target{mb: mb})
	return &sc.targets[len(sc.targets)-1]
}

// Forward implements broker.Cluster: it queues m once for every node with
// a matching route, and gives every matching shared group that has no
// member on this node to one node that has it (round-robin). It returns
// the number of nodes.
func (n *Node) Forward(m *broker.Message) (nodes int) {
	if n.npeers.Load() == 0 || n.closed.Load() {
		return 0
	}
	srv := n.srv.Load()
	if srv == nil || (m.Expiry != 0 && m.Expiry <= time.Now().UnixNano()) {
		return 0
	}
	sc := scratches.Get().(*scratch)
	sc.entries, sc.groups = n.table.trie.Match(bytesOf(m.Topic), sc.entries[:0], sc.groups[:0])
	sc.targets = sc.targets[:0]
	for i := range sc.entries {
		sc.target(sc.entries[i].Sub).normal = true
	}
	for _, g := range sc.groups {
		if srv.HasRoute(g.Filter(), g.Name()) {
			continue // the core gave it to a member here
		}
		e, ok := g.Pick(func(mb *member) bool { return mb.alive.Load() })
		if !ok {
			continue
		}
		t := sc.target(e.Sub)
		t.groups = append(t.groups, broker.SharedGroup{Filter: g.Filter(), Name: g.Name()})
	}
	size := messageSize(m)
	for i := range sc.targets {
		t := &sc.targets[i]
		fm := &fwdMsg{m: m, normal: t.normal, size: size}
		if len(t.groups) > 0 {
			fm.groups = slices.Clone(t.groups)
		}
		n.send(t.mb, fm)
		t.mb, t.groups = nil, t.groups[:0]
	}
	nodes = len(sc.targets)
	clear(sc.entries)
	clear(sc.groups)
	scratches.Put(sc)
	return nodes
}

// send queues fm on the stream of its publisher.
func (n *Node) send(mb *member, fm *fwdMsg) {
	s := mb.peer.streams[n.streamIndex(fm.m)]
	if s.enqueue(fm) {
		return
	}
	// The member is going away: its share of fm goes elsewhere.
	if fm.m.QoS > 0 && len(fm.groups) > 0 {
		n.redispatch(fm.m, fm.groups, append(slices.Clip(fm.tried), mb))
	}
}

// streamIndex picks the stream by the publisher, so one publisher's
// messages keep their order.
func (n *Node) streamIndex(m *broker.Message) int {
	if n.cfg.Streams == 1 {
		return 0
	}
	key := m.Origin
	if key == "" {
		key = m.Topic
	}
	return int(maphash.String(n.seed, key) % uint64(n.cfg.Streams))
}

// redispatch gives a shared-subscription message whose node did not take it
// (gone, or no member left there) to a member on this node or on another
// node not yet tried.
func (n *Node) redispatch(m *broker.Message, groups []broker.SharedGroup, tried []*member) {
	srv := n.srv.Load()
	if srv == nil || n.closed.Load() {
		return
	}
	var remote []*topic.Group[*member]
	if len(tried) < maxDispatchTries {
		_, remote = n.table.trie.Match(bytesOf(m.Topic), nil, nil)
	}
	for _, g := range groups {
		if srv.HasRoute(g.Filter, g.Name) {
			if missed, _ := srv.DeliverForwarded(m, broker.Delivery{Groups: []broker.SharedGroup{g}}); len(missed) == 0 {
				n.stats.redispatched.Add(1)
				continue
			}
		}
		var picked *member
		for _, rg := range remote {
			if rg.Filter() != g.Filter || rg.Name() != g.Name {
				continue
			}
			if e, ok := rg.Pick(func(mb *member) bool { return mb.alive.Load() && !slices.Contains(tried, mb) }); ok {
				picked = e.Sub
			}
			break
		}
		if picked == nil {
			n.stats.droppedDead.Add(1)
			n.log.Warn("cluster: shared-subscription message lost: no member left to take it",
				"topic", m.Topic, "group", g.Name, "filter", g.Filter, "tried", len(tried))
			continue
		}
		n.stats.redispatched.Add(1)
		n.send(picked, &fwdMsg{m: m, groups: []broker.SharedGroup{g}, size: messageSize(m), tried: tried})
	}
}

// peer forwards to one member over a few long-lived gRPC streams on one
// connection.
type peer struct {
	n       *Node
	mb      *member
	conn    *grpc.ClientConn
	client  clusterpb.ClusterClient
	epoch   uint64 // distinguishes this peer's streams from an earlier one's to the same member
	streams []*stream

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	connMu sync.Mutex
	conns  []net.Conn // TCP connections dialled, for BreakConnections
}

// dial opens the peer's TCP connection and remembers it.
func (p *peer) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	p.connMu.Lock()
	// Keep only connections still open; a peer has one at a time.
	p.conns = slices.DeleteFunc(p.conns, func(c net.Conn) bool {
		return c.SetDeadline(time.Time{}) != nil
	})
	p.conns = append(p.conns, c)
	p.connMu.Unlock()
	return c, nil
}

// breakConnections closes the peer's TCP connections under gRPC, as a
// network failure would; gRPC reconnects and the streams replay.
func (p *peer) breakConnections() int {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	k := len(p.conns)
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	return k
}

func (n *Node) newPeer(mb *member) (*peer, error) {
	p := &peer{n: n, mb: mb, epoch: n.epochs.Add(1)}
	conn, err := grpc.NewClient("passthrough:///"+mb.grpcAddr,
		grpc.WithTransportCredentials(n.clientCreds),
		grpc.WithContextDialer(p.dial),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage), grpc.MaxCallSendMsgSize(maxGRPCMessage)),
		grpc.WithInitialWindowSize(grpcWindow),
		grpc.WithInitialConnWindowSize(4*grpcWindow),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, err
	}
	p.conn, p.client = conn, clusterpb.NewClusterClient(conn)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for i := range n.cfg.Streams {
		s := &stream{p: p, idx: i, space: make(chan struct{}), wake: make(chan struct{}, 1)}
		p.streams = append(p.streams, s)
		p.wg.Add(1)
		go s.run()
	}
	return p, nil
}

// close stops forwarding to the member. With redispatch, the shared-group
// share of its QoS 1/2 messages not yet acknowledged goes to other nodes;
// everything else queued for it is dropped and counted.
func (p *peer) close(redispatch bool) {
	p.closeOnce.Do(func() {
		p.cancel()
		var left []*fwdMsg
		for _, s := range p.streams {
			s.mu.Lock()
			s.closed = true
			left = append(left, s.unacked...)
			left = append(left, s.queue...)
			s.unacked, s.queue, s.bytes = nil, nil, 0
			close(s.space) // wake stalled publishers
			s.mu.Unlock()
		}
		p.wg.Wait()
		p.conn.Close()
		n := p.n
		lost := 0
		for _, fm := range left {
			if redispatch && fm.m.QoS > 0 && len(fm.groups) > 0 {
				n.redispatch(fm.m, fm.groups, append(slices.Clip(fm.tried), p.mb))
			}
			if fm.normal && fm.m.QoS > 0 {
				lost++
			}
		}
		if lost > 0 {
			n.stats.droppedDead.Add(int64(lost))
			n.log.Warn("cluster: QoS 1/2 messages for a departed member dropped", "node", p.mb.nodeID, "messages", lost)
		}
	})
}

// pullRoutes fetches the member's route table.
func (p *peer) pullRoutes(ctx context.Context) (uint64, []Route, error) {
	cs, err := p.client.Routes(ctx, &clusterpb.RoutesRequest{StartId: p.mb.startID})
	if err != nil {
		return 0, nil, err
	}
	var version uint64
	var routes []Route
	for first := true; ; first = false {
		c, err := cs.Recv()
		if err == io.EOF {
			if first {
				return 0, nil, errors.New("empty route table stream")
			}
			return version, routes, nil
		}
		if err != nil {
			return 0, nil, err
		}
		if first {
			if c.GetStartId() != p.mb.startID {
				return 0, nil, errors.New("route table of another incarnation")
			}
			version = c.GetVersion()
		}
		for _, r := range c.GetRoutes() {
			routes = append(routes, Route{r.GetFilter(), r.GetGroup()})
		}
	}
}

// stream is one ordered lane to a peer: a queue bounded in bytes, drained
// into batches by one sender goroutine, and the QoS 1/2 messages sent but
// not yet acknowledged, replayed on the next gRPC stream if this one
// breaks.
type stream struct {
	p   *peer
	idx int

	mu        sync.Mutex
	queue     []*fwdMsg // waiting to be sent
	unacked   []*fwdMsg // QoS 1/2 sent, awaiting acknowledgement, by seq
	bytes     int       // queue plus unacked
	seq       uint64
	closed    bool
	congested time.Time     // when bytes went above the high-water mark; zero below it
	waiters   int           // publishers stalled on space
	space     chan struct{} // closed (and replaced) when bytes fall below the mark
	lastWarn  time.Time

	wake chan struct{} // capacity 1: something was queued
}

// enqueue adds fm, stalling the publisher for a bounded time above the
// high-water mark. It returns false when the peer is closing.
func (s *stream) enqueue(fm *fwdMsg) bool {
	n := s.p.n
	hwm := n.cfg.QueueBytes
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if s.bytes > 0 && s.bytes+fm.size > hwm {
		now := time.Now()
		if s.congested.IsZero() {
			s.congested = now
			n.stats.stalls.Add(1)
		}
		// Publishers wait at most MaxStall per congestion, not per
		// message: once a stream has been over the mark that long, the
		// queue's policy applies at once.
		deadline := s.congested.Add(n.cfg.MaxStall)
		for s.bytes > 0 && s.bytes+fm.size > hwm && !s.closed && now.Before(deadline) {
			ch := s.space
			s.waiters++
			s.mu.Unlock()
			t := time.NewTimer(deadline.Sub(now))
			stopped := false
			select {
			case <-ch:
			case <-t.C:
			case <-n.stop:
				stopped = true
			}
			t.Stop()
			s.mu.Lock()
			s.waiters--
			now = time.Now()
			if stopped {
				s.mu.Unlock()
				return false
			}
		}
		if s.closed {
			s.mu.Unlock()
			return false
		}
		if s.bytes > 0 && s.bytes+fm.size > hwm {
			if fm.m.QoS == 0 {
				s.mu.Unlock()
				n.stats.droppedQoS0.Add(1)
				return true
			}
			if s.bytes+fm.size > n.cfg.MaxQueueBytes {
				warn := now.Sub(s.lastWarn) > time.Second
				if warn {
					s.lastWarn = now
				}
				s.mu.Unlock()
				n.stats.droppedQoS12.Add(1)
				if warn {
					n.log.Error("cluster: forwarding queue full; QoS 1/2 messages dropped",
						"peer", s.p.mb.nodeID, "stream", s.idx, "max_queue_bytes", n.cfg.MaxQueueBytes,
						"dropped_total", n.stats.droppedQoS12.Load())
				}
				return true
			}
		}
	}
	s.queue = append(s.queue, fm)
	s.bytes += fm.size
	s.mu.Unlock()
	n.stats.forwarded.Add(1)
	n.stats.forwardedBytes.Add(int64(fm.size))
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// releaseLocked returns b bytes of the stream's budget; s.mu is held.
func (s *stream) releaseLocked(b int) {
	if s.closed {
		return
	}
	s.bytes -= b
	hwm := s.p.n.cfg.QueueBytes
	if s.waiters > 0 && s.bytes < hwm {
		close(s.space)
		s.space = make(chan struct{})
	}
	if !s.congested.IsZero() && s.bytes <= hwm/2 {
		s.congested = time.Time{}
	}
}

// run is the stream's sender goroutine: it (re)opens the gRPC stream while
// there is something to send and the peer is not closed.
func (s *stream) run() {
	p := s.p
	defer p.wg.Done()
	var delay time.Duration
	for {
		progressed, err := s.session()
		if p.ctx.Err() != nil {
			return
		}
		if progressed {
			delay = 0
		}
		delay = min(max(2*delay, 10*time.Millisecond), time.Second)
		p.n.stats.streamResets.Add(1)
		p.n.log.Debug("cluster: forwarding stream broken; reopening", "peer", p.mb.nodeID, "stream", s.idx, "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return
		}
	}
}

// session runs one gRPC stream: replay what is unacknowledged, then send
// batches until an error. It reports whether a batch went through.
func (s *stream) session() (progressed bool, err error) {
	p := s.p
	n := p.n
	if !s.waitWork() {
		return false, p.ctx.Err()
	}
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	md := metadata.Pairs(mdFrom, n.name, mdStart, strconv.FormatUint(n.startID, 10),
		mdStream, strconv.Itoa(s.idx), mdTo, p.mb.name, mdEpoch, strconv.FormatUint(p.epoch, 10))
	cs, err := p.client.Forward(metadata.NewOutgoingContext(ctx, md))
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	replay := slices.Clone(s.unacked)
	s.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel() // a broken ack stream breaks the send side too
		for {
			a, err := cs.Recv()
			if err != nil {
				return
			}
			s.acked(a)
		}
	}()
	maxBatch := n.cfg.MaxBatchBytes
	for len(replay) > 0 {
		k, size := 0, 0
		for k < len(replay) && (k == 0 || size+replay[k].size <= maxBatch) {
			size += replay[k].size
			k++
		}
		if err := cs.Send(n.encodeBatch(replay[:k])); err != nil {
			return progressed, err
		}
		n.stats.replayed.Add(int64(k))
		n.stats.batches.Add(1)
		replay = replay[k:]
	}
	for {
		batch, q0 := s.take(ctx, maxBatch)
		if batch == nil {
			if ctx.Err() != nil && p.ctx.Err() == nil {
				return progressed, errors.New("stream cancelled")
			}
			return progressed, ctx.Err()
		}
		err := cs.Send(n.encodeBatch(batch))
		if q0 > 0 {
			s.mu.Lock()
			s.releaseLocked(q0)
			s.mu.Unlock()
		}
		if err != nil {
			return progressed, err
		}
		progressed = true
		n.stats.batches.Add(1)
	}
}

// waitWork blocks until the stream has something to send (the gRPC stream
// is opened lazily) or the peer closes.
func (s *stream) waitWork() bool {
	for {
		s.mu.Lock()
		has := len(s.queue) > 0 || len(s.unacked) > 0
		s.mu.Unlock()
		if has {
			return true
		}
		select {
		case <-s.wake:
		case <-s.p.ctx.Done():
			return false
		}
	}
}

// take waits for queued messages and takes what is there, up to maxBatch
// bytes (at least one message): no timer, a batch is whatever accumulated
// while the previous one was being sent. QoS 1/2 messages get their
// sequence numbers and move to unacked; q0 is the bytes of the QoS 0 ones,
// released once sent. It returns nil when ctx is done.
func (s *stream) take(ctx context.Context, maxBatch int) (batch []*fwdMsg, q0 int) {
	for {
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, 0
		default:
		}
		if batch, q0 = s.takeQueued(maxBatch); len(batch) > 0 {
			return batch, q0
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, 0
		}
	}
}

// takeQueued takes up to maxBatch bytes from the queue, skipping expired
// messages.
func (s *stream) takeQueued(maxBatch int) (batch []*fwdMsg, q0 int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, size := 0, 0
	for k < len(s.queue) && (k == 0 || size+s.queue[k].size <= maxBatch) {
		size += s.queue[k].size
		k++
	}
	if k == 0 {
		return nil, 0
	}
	batch = make([]*fwdMsg, 0, k)
	now := time.Now().UnixNano()
	expired := 0
	for _, fm := range s.queue[:k] {
		if fm.m.Expiry != 0 && fm.m.Expiry <= now {
			expired += fm.size // [MQTT-3.3.2-5]: not delivered once expired
			continue
		}
		if fm.m.QoS > 0 {
			s.seq++
			fm.seq = s.seq
			s.unacked = append(s.unacked, fm)
		} else {
			q0 += fm.size
		}
		batch = append(batch, fm)
	}
	clear(s.queue[:k])
	if k == len(s.queue) {
		s.queue = s.queue[:0]
	} else {
		s.queue = s.queue[k:]
		// More is queued: make sure the next take does not wait.
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if expired > 0 {
		s.releaseLocked(expired)
	}
	return batch, q0
}

// acked handles an acknowledgement: it frees every message up to a.Seq and
// re-dispatches the shared groups the receiver had no member of.
func (s *stream) acked(a *clusterpb.ForwardAck) {
	type redo struct {
		fm     *fwdMsg
		groups []broker.SharedGroup
	}
	var redos []redo
	s.mu.Lock()
	for _, ms := range a.GetMissed() {
		i, ok := slices.BinarySearchFunc(s.unacked, ms.GetSeq(), func(fm *fwdMsg, seq uint64) int {
			switch {
			case fm.seq < seq:
				return -1
			case fm.seq > seq:
				return 1
			}
			return 0
		})
		if ok {
			redos = append(redos, redo{s.unacked[i], groupsFromPB(ms.GetGroups())})
		}
	}
	k, freed := 0, 0
	for k < len(s.unacked) && s.unacked[k].seq <= a.GetSeq() {
		freed += s.unacked[k].size
		k++
	}
	clear(s.unacked[:k])
	if k == len(s.unacked) {
		s.unacked = s.unacked[:0]
	} else {
		s.unacked = s.unacked[k:]
	}
	s.releaseLocked(freed)
	s.mu.Unlock()
	for _, r := range redos {
		s.p.n.redispatch(r.fm.m, r.groups, append(slices.Clip(r.fm.tried), s.p.mb))
	}
}

// encodeBatch builds the wire form of a batch.
func (n *Node) encodeBatch(batch []*fwdMsg) *clusterpb.ForwardBatch {
	msgs := make([]clusterpb.ForwardMessage, len(batch))
	b := &clusterpb.ForwardBatch{Messages: make([]*clusterpb.ForwardMessage, len(batch))}
	now := time.Now().UnixNano()
	for i, fm := range batch {
		m := fm.m
		pm := &msgs[i]
		pm.Seq = fm.seq
		pm.Topic = m.Topic
		pm.Payload = m.Payload
		pm.Qos = uint32(m.QoS)
		pm.Retain = m.Retain
		if m.Expiry != 0 {
			pm.ExpiryMs = max((m.Expiry-now+int64(time.Millisecond)-1)/int64(time.Millisecond), 1)
		}
		pm.Origin = m.Origin
		pm.OriginNode = m.OriginNode
		if pm.OriginNode == "" {
			pm.OriginNode = n.cfg.NodeID
		}
		pm.Normal = fm.normal
		if len(fm.groups) > 0 {
			pm.Groups = groupsToPB(fm.groups)
		}
		pm.Properties = propsToPB(m.Props)
		b.Messages[i] = pm
	}
	return b
}

func groupsToPB(gs []broker.SharedGroup) []*clusterpb.SharedGroup {
	out := make([]*clusterpb.SharedGroup, len(gs))
	for i, g := range gs {
		out[i] = &clusterpb.SharedGroup{Filter: g.Filter, Name: g.Name}
	}
	return out
}

func groupsFromPB(gs []*clusterpb.SharedGroup) []broker.SharedGroup {
	if len(gs) == 0 {
		return nil
	}
	out := make([]broker.SharedGroup, len(gs))
	for i, g := range gs {
		out[i] = broker.SharedGroup{Filter: g.GetFilter(), Name: g.GetName()}
	}
	return out
}

func propsToPB(p *packet.Properties) *clusterpb.Properties {
	if p == nil {
		return nil
	}
	out := &clusterpb.Properties{
		ContentType:     p.ContentType,
		ResponseTopic:   p.ResponseTopic,
		CorrelationData: p.CorrelationData,
	}
	if p.Has&packet.HasPayloadFormat != 0 {
		pf := uint32(p.PayloadFormat)
		out.PayloadFormat = &pf
	}
	if len(p.UserProperties) > 0 {
		out.UserProperties = make([]*clusterpb.UserProperty, len(p.UserProperties))
		for i, u := range p.UserProperties {
			out.UserProperties[i] = &clusterpb.UserProperty{Key: u.Key, Value: u.Value}
		}
	}
	return out
}

func propsFromPB(p *clusterpb.Properties) *packet.Properties {
	if p == nil {
		return nil
	}
	out := &packet.Properties{
		ContentType:     p.GetContentType(),
		ResponseTopic:   p.GetResponseTopic(),
		CorrelationData: p.GetCorrelationData(),
	}
	if p.PayloadFormat != nil {
		out.Has |= packet.HasPayloadFormat
		out.PayloadFormat = byte(p.GetPayloadFormat())
	}
	if ups := p.GetUserProperties(); len(ups) > 0 {
		out.UserProperties = make([]packet.UserProperty, len(ups))
		for i, u := range ups {
			out.UserProperties[i] = packet.UserProperty{Key: u.GetKey(), Value: u.GetValue()}
		}
	}
	return out
}
