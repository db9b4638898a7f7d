package broker

import (
	"container/heap"
	"sync"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// sweepInterval is how often keepalives and CONNECT timeouts are checked.
// One goroutine checks every connection, instead of a timer or goroutine
// per connection; the cost is up to this much lateness on a 1.5 × keepalive
// deadline measured in seconds.
const sweepInterval = 250 * time.Millisecond

// sweeper owns every timed event of a server: keepalive and CONNECT
// timeouts, delayed wills, session expiry and retained-message expiry.
type sweeper struct {
	srv     *Server
	mu      sync.Mutex
	clients map[*client]struct{}
	events  eventHeap
	wake    chan struct{}
}

type event struct {
	at int64 // unix nanos
	fn func()
}

type eventHeap []event

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = event{}
	*h = old[:len(old)-1]
	return e
}

func newSweeper(srv *Server) *sweeper {
	return &sweeper{srv: srv, clients: make(map[*client]struct{}), wake: make(chan struct{}, 1)}
}

func (w *sweeper) watch(c *client) {
	w.mu.Lock()
	w.clients[c] = struct{}{}
	w.mu.Unlock()
}

func (w *sweeper) unwatch(c *client) {
	w.mu.Lock()
	delete(w.clients, c)
	w.mu.Unlock()
}

// after runs fn on the sweeper goroutine once d has passed. fn must not
// block for long.
func (w *sweeper) after(d time.Duration, fn func()) {
	w.mu.Lock()
	heap.Push(&w.events, event{at: time.Now().Add(d).UnixNano(), fn: fn})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *sweeper) run(stop <-chan struct{}) {
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	lastRetainedSweep := time.Now()
	for {
		now := time.Now()
		w.fireDue(now.UnixNano())
		w.checkClients(now.UnixNano())
		if now.Sub(lastRetainedSweep) > time.Minute {
			lastRetainedSweep = now
			w.srv.dropExpiredRetained(now.UnixNano())
			w.srv.pruneFlaps(now.UnixNano())
		}
		var next <-chan time.Time
		w.mu.Lock()
		if len(w.events) > 0 {
			if d := time.Duration(w.events[0].at - now.UnixNano()); d < sweepInterval {
				next = time.After(max(d, 0))
			}
		}
		w.mu.Unlock()
		select {
		case <-stop:
			return
		case <-tick.C:
		case <-next:
		case <-w.wake:
		}
	}
}

func (w *sweeper) fireDue(now int64) {
	for {
		w.mu.Lock()
		if len(w.events) == 0 || w.events[0].at > now {
			w.mu.Unlock()
			return
		}
		e := heap.Pop(&w.events).(event)
		w.mu.Unlock()
		e.fn()
	}
}

// checkClients closes connections that sent no CONNECT in time and those
// silent for 1.5 × their keepalive [MQTT-3.1.2-22].
func (w *sweeper) checkClients(now int64) {
	var dead []*client
	var late []*client
	connectTimeout := int64(w.srv.opts.ConnectTimeout)
	w.mu.Lock()
	for c := range w.clients {
		if !c.connected.Load() {
			if now-c.createdAt > connectTimeout {
				late = append(late, c)
			}
			continue
		}
		if ka := int64(c.keepAlive); ka > 0 && now-c.lastRead.Load() > ka+ka/2 {
			dead = append(dead, c)
		}
	}
	w.mu.Unlock()
	for _, c := range late {
		c.closeCause.Store("no CONNECT in time")
		c.closeConn()
	}
	for _, c := range dead {
		w.srv.stats.keepaliveTimeouts.Add(1)
		c.disconnect(packet.KeepAliveTimeout)
	}
}

// dropExpiredRetained removes retained messages whose expiry passed.
func (srv *Server) dropExpiredRetained(now int64) {
	var expired []string
	srv.retained.Walk(func(name string, m *Message) bool {
		if m.Expiry != 0 && m.Expiry <= now {
			expired = append(expired, name)
		}
		return true
	})
	for _, name := range expired {
		srv.retain(&Message{Topic: name})
	}
}
