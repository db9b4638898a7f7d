package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// config is one run of one scenario.
type config struct {
	scenario string // fanin, fanout, pairs, latency, conns
	addr     string // publishers (and everything else)
	addr2    string // subscribers, when not addr (cross-node)
	version  packet.Version
	qos      byte
	size     int // payload bytes, >= headerSize
	pubs     int
	subs     int
	conns    int // conns scenario: idle connections to open
	duration time.Duration
	warmup   time.Duration
	rate     float64 // total messages per second; 0: as fast as the window allows
	window   int     // messages outstanding per subscriber
	writers  int     // publisher-writing goroutines
	pid      int     // broker process to sample; 0: none
	drain    time.Duration
	settle   time.Duration // conns: wait before sampling the broker's memory
	dialers  int           // goroutines opening connections
	timeout  time.Duration // connect, subscribe
	tr       transportCfg
	verbose  bool // report every stream that lost messages on stderr
}

// scenario topologies.
const (
	topoShared = iota // every publisher on one topic, every subscriber on it
	topoPairs         // publisher i → topic i → subscriber i
)

func topology(scenario string) (int, error) {
	switch scenario {
	case "fanin", "fanout":
		return topoShared, nil
	case "pairs", "latency":
		return topoPairs, nil
	}
	return 0, fmt.Errorf("unknown scenario %q (want fanin, fanout, pairs, latency or conns)", scenario)
}

// stallTimeout is how long a publisher may have messages outstanding
// without any delivery or acknowledgement before the monitor counts a
// stall; at QoS 0 it then gives the outstanding messages up as lost and
// restarts the publisher's window.
const stallTimeout = 200 * time.Millisecond

type runner struct {
	cfg   config
	topo  int
	runID string
	epoch time.Time

	pubs    []*publisher
	subs    []*subscriber
	writers []*writer

	stop      chan struct{}
	measuring atomic.Bool
	closing   atomic.Bool
	readers   sync.WaitGroup
	writing   sync.WaitGroup

	errMu sync.Mutex
	errs  []string
}

func (r *runner) fail(err error) {
	if r.closing.Load() {
		return
	}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.errs) < 10 {
		r.errs = append(r.errs, err.Error())
	}
}

// firstErr returns the first error a reader or writer reported, or "".
func (r *runner) firstErr() string {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.errs) == 0 {
		return ""
	}
	return r.errs[0]
}

func (r *runner) failed() bool { return r.firstErr() != "" }

func newRunID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parallel runs f(0..n-1) on up to workers goroutines and returns the
// first error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(max(workers, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n)) // stop the others early
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// runTraffic runs a message scenario and returns its result.
func runTraffic(cfg config) (*Result, error) {
	topo, err := topology(cfg.scenario)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, topo: topo, runID: newRunID(), epoch: time.Now(), stop: make(chan struct{})}
	defer r.shutdown()
	if err := r.setup(); err != nil {
		return nil, err
	}
	if err := r.probe(); err != nil {
		return nil, err
	}
	return r.measure()
}

func (r *runner) setup() error {
	cfg := r.cfg
	subAddr := cfg.addr
	if cfg.addr2 != "" {
		subAddr = cfg.addr2
	}
	shared := []byte("mb/" + r.runID + "/t")
	topicOf := func(i int) []byte {
		if r.topo == topoShared {
			return shared
		}
		return fmt.Appendf(nil, "mb/%s/%d", r.runID, i)
	}

	// Subscribers first, so that no message is published before every
	// subscription exists.
	r.subs = make([]*subscriber, cfg.subs)
	err := parallel(cfg.subs, cfg.dialers, func(i int) error {
		mc, err := dialMQTT(cfg.tr, subAddr, cfg.version, fmt.Sprintf("mb-%s-s%d", r.runID, i), cfg.timeout)
		if err != nil {
			return err
		}
		s := &subscriber{r: r, mc: mc}
		if r.topo == topoShared {
			s.streams = make([]stream, cfg.pubs)
		} else {
			s.lo = uint32(i)
			s.streams = make([]stream, 1)
		}
		r.subs[i] = s
		return mc.subscribe(string(topicOf(i)), cfg.qos, cfg.timeout)
	})
	if err != nil {
		return fmt.Errorf("subscribers: %w", err)
	}

	inflight := 65535 - 1 // packet identifiers (seq mod 65535)
	r.pubs = make([]*publisher, cfg.pubs)
	err = parallel(cfg.pubs, cfg.dialers, func(i int) error {
		mc, err := dialMQTT(cfg.tr, cfg.addr, cfg.version, fmt.Sprintf("mb-%s-p%d", r.runID, i), cfg.timeout)
		if err != nil {
			return err
		}
		pubsPerSub := 1
		if r.topo == topoShared {
			pubsPerSub = cfg.pubs
		}
		r.pubs[i] = &publisher{
			id:       uint32(i),
			mc:       mc,
			topic:    topicOf(i),
			window:   perPublisherWindow(cfg.window, pubsPerSub),
			inflight: min(inflight, mc.recvMax),
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publishers: %w", err)
	}

	// Wire streams to publishers, publishers to writers.
	for _, s := range r.subs {
		for k := range s.streams {
			p := r.pubs[int(s.lo)+k]
			p.streams = append(p.streams, &s.streams[k])
		}
	}
	nw := min(max(cfg.writers, 1), cfg.pubs)
	payload := make([]byte, cfg.size)
	for i := range payload[headerSize:] {
		payload[headerSize+i] = byte('a' + i%26)
	}
	for range nw {
		w := &writer{r: r, wake: make(chan struct{}, 1)}
		w.pkt.QoS = cfg.qos
		w.payload = append([]byte(nil), payload...)
		w.pkt.Payload = w.payload
		if cfg.rate > 0 {
			w.rate = cfg.rate / float64(nw)
		}
		r.writers = append(r.writers, w)
	}
	for i, p := range r.pubs {
		w := r.writers[i%nw]
		p.w = w
		w.pubs = append(w.pubs, p)
		pktSize := packet.PublishSize(cfg.version, &packet.Publish{QoS: cfg.qos, Topic: p.topic, Payload: payload})
		w.maxBatch = max(1, writeChunk/pktSize)
	}
	for _, s := range r.subs {
		seen := map[*writer]bool{}
		for k := range s.streams {
			w := r.pubs[int(s.lo)+k].w
			if !seen[w] {
				seen[w] = true
				s.wakes = append(s.wakes, w.wake)
			}
		}
	}

	// Readers.
	readSize := 64 << 10
	for _, s := range r.subs {
		r.readers.Add(1)
		go func() {
			defer r.readers.Done()
			// readLoop ends with an error, which is only news before
			// shutdown (r.fail knows).
			r.fail(fmt.Errorf("subscriber: %w", readLoop(s.mc, readSize, s)))
		}()
	}
	for _, p := range r.pubs {
		pr := &pubReader{p: p}
		r.readers.Add(1)
		go func() {
			defer r.readers.Done()
			r.fail(fmt.Errorf("publisher: %w", readLoop(p.mc, 4<<10, pr)))
		}()
	}
	return nil
}

// probe publishes a marked QoS 0 message from every publisher every 20 ms
// until every subscriber stream has seen one: then every route is in
// place, also across nodes.
func (r *runner) probe() error {
	deadline := time.Now().Add(r.cfg.timeout)
	pkt := packet.Publish{Payload: make([]byte, headerSize)}
	var buf []byte
	for {
		pending := 0
		for _, p := range r.pubs {
			all := true
			for _, s := range p.streams {
				if !s.probed.Load() {
					all = false
					break
				}
			}
			if all {
				continue
			}
			pending++
			putHeader(pkt.Payload, p.id, probeSeq, 0)
			pkt.Topic = p.topic
			buf = packet.AppendPublish(buf[:0], r.cfg.version, &pkt)
			if _, err := p.mc.Write(buf); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
		}
		if pending == 0 {
			return nil
		}
		if e := r.firstErr(); e != "" {
			return fmt.Errorf("probe: %s", e)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("probe: %d publishers' messages do not reach all their subscribers after %v", pending, r.cfg.timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counters sums what the publishers and subscribers have done so far.
type counters struct {
	at        time.Time
	sent      uint64
	delivered uint64
	acked     uint64
	proc      procSample
	procErr   error
}

func (r *runner) sample() counters {
	c := counters{}
	for _, p := range r.pubs {
		c.sent += p.sent.Load()
		c.acked += p.acked.Load()
	}
	for _, s := range r.subs {
		c.delivered += s.delivered.Load()
	}
	if r.cfg.pid > 0 {
		c.proc, c.procErr = readProc(r.cfg.pid)
	}
	c.at = time.Now()
	return c
}

func (r *runner) measure() (*Result, error) {
	cfg := r.cfg
	for _, w := range r.writers {
		r.writing.Add(1)
		go func() {
			defer r.writing.Done()
			w.run()
		}()
	}
	r.writing.Add(1)
	go func() {
		defer r.writing.Done()
		r.monitor()
	}()
	time.Sleep(cfg.warmup)
	r.measuring.Store(true)
	a := r.sample()
	time.Sleep(cfg.duration)
	b := r.sample()
	r.measuring.Store(false)
	close(r.stop)
	// A writer blocked on a broker that stopped reading must not hang the
	// run: the deadline ends its write.
	for _, p := range r.pubs {
		p.mc.SetWriteDeadline(time.Now().Add(cfg.drain + time.Second))
	}
	r.writing.Wait()
	r.waitDrained()

	res := &Result{
		Scenario: cfg.scenario,
		Addr:     cfg.addr,
		Addr2:    cfg.addr2,
		Version:  int(cfg.version),
		QoS:      int(cfg.qos),
		Size:     cfg.size,
		Pubs:     cfg.pubs,
		Subs:     cfg.subs,
		Window:   cfg.window,
		Rate:     cfg.rate,
	}
	dt := b.at.Sub(a.at).Seconds()
	res.Seconds = dt
	delivered := b.delivered - a.delivered
	res.MsgsPerSec = float64(delivered) / dt
	res.PubMsgsPerSec = float64(b.sent-a.sent) / dt
	res.MBPerSec = res.MsgsPerSec * float64(cfg.size) / 1e6
	if cfg.pid > 0 {
		switch {
		case a.procErr != nil:
			res.Errors = append(res.Errors, a.procErr.Error())
		case b.procErr != nil:
			res.Errors = append(res.Errors, b.procErr.Error())
		default:
			ticks := b.proc.cpuTicks - a.proc.cpuTicks
			cpu := float64(ticks) / clockTicks
			res.BrokerCPUPercent = 100 * cpu / dt
			if delivered > 0 {
				res.BrokerCPUUSPerMsg = cpu * 1e6 / float64(delivered)
			}
			res.BrokerRSSBytes = b.proc.rssBytes
		}
	}

	// Close everything, so that the readers' accounting is final.
	r.shutdown()
	var h hist
	for si, s := range r.subs {
		h.merge(&s.hist)
		res.Foreign += s.foreign
		for k := range s.streams {
			st := &s.streams[k]
			sent := r.pubs[int(s.lo)+k].sent.Load()
			res.Received += st.recv
			res.Lost += st.lost(sent)
			res.Dups += st.dups
			res.Gaps += st.gaps
			if cfg.verbose && st.lost(sent) > 0 {
				fmt.Fprintf(os.Stderr, "subscriber %d, publisher %d: sent %d, received %d, next expected %d, skipped %d, acknowledged %d\n",
					si, int(s.lo)+k, sent, st.recv, st.next, st.gaps, r.pubs[int(s.lo)+k].acked.Load())
			}
			res.OutOfOrder += st.ooo
		}
	}
	for _, p := range r.pubs {
		sent := p.sent.Load()
		res.Sent += sent
		res.Expected += sent * uint64(len(p.streams))
		res.Stalls += p.stalls.Load()
		if cfg.qos > 0 {
			if acked := p.acked.Load(); acked < sent {
				res.Unacked += sent - acked
			}
		}
	}
	res.setLatency(&h)
	r.errMu.Lock()
	res.Errors = append(res.Errors, r.errs...)
	r.errMu.Unlock()
	if cfg.qos > 0 && (res.Lost > 0 || res.OutOfOrder > 0 || res.Unacked > 0) {
		res.Errors = append(res.Errors, fmt.Sprintf("QoS %d: %d lost, %d out of order, %d unacknowledged", cfg.qos, res.Lost, res.OutOfOrder, res.Unacked))
	}
	return res, nil
}

// waitDrained waits until every message written has been received by
// every subscriber (and acknowledged, at QoS > 0), or until nothing has
// moved for cfg.drain.
func (r *runner) waitDrained() {
	last := r.sample()
	lastMove := time.Now()
	for {
		done := true
		for _, p := range r.pubs {
			sent := p.sent.Load()
			if p.delivered() < sent || (r.cfg.qos > 0 && p.acked.Load() < sent) {
				done = false
				break
			}
		}
		if done || r.failed() {
			return
		}
		c := r.sample()
		if c.delivered != last.delivered || c.acked != last.acked {
			last, lastMove = c, time.Now()
		} else if time.Since(lastMove) > r.cfg.drain {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shutdown disconnects every client and waits for the readers. It is
// idempotent.
func (r *runner) shutdown() {
	if r.closing.Swap(true) {
		return
	}
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	var wg sync.WaitGroup
	for _, p := range r.pubs {
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.mc.disconnect() }()
		}
	}
	for _, s := range r.subs {
		if s != nil {
			wg.Add(1)
			go func() { defer wg.Done(); s.mc.disconnect() }()
		}
	}
	wg.Wait()
	r.writing.Wait()
	r.readers.Wait()
}
