package broker

import (
	"sync"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// bucket is a token bucket: rate tokens per second, holding at most burst.
// It may go negative: the debt is how long the owner must wait.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        int64 // unix nanos of the last refill
}

func newBucket(rate float64, now int64) *bucket {
	burst := max(rate, 1) // one second's worth
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take spends n tokens and returns how long the owner must wait before it
// may go on (0 when it is within its rate).
func (b *bucket) take(n float64, now int64) time.Duration {
	b.tokens = min(b.burst, b.tokens+float64(now-b.last)/1e9*b.rate)
	b.last = now
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * 1e9)
}

// rateLimits are a client's publish budgets; nil when none is configured.
type rateLimits struct {
	msgs, bytes *bucket
}

func (srv *Server) newRateLimits(now int64) *rateLimits {
	o := &srv.opts
	if o.MaxMessageRate <= 0 && o.MaxByteRate <= 0 {
		return nil
	}
	r := &rateLimits{}
	if o.MaxMessageRate > 0 {
		r.msgs = newBucket(o.MaxMessageRate, now)
	}
	if o.MaxByteRate > 0 {
		r.bytes = newBucket(o.MaxByteRate, now)
	}
	return r
}

// throttle charges one PUBLISH of size bytes to the client. When the client
// is over its rate its reading pauses until the budget has refilled. A
// client kept over its rate for longer than Options.MaxThrottle is not
// slowed any more but disconnected with the reason returned (v5: 0x96
// Message rate too high, 0x97 Quota exceeded).
func (c *client) throttle(size int) error {
	now := nowNanos()
	var wait time.Duration
	rc := packet.Success
	if b := c.limits.msgs; b != nil {
		if w := b.take(1, now); w > wait {
			wait, rc = w, packet.MessageRateTooHigh
		}
	}
	if b := c.limits.bytes; b != nil {
		if w := b.take(float64(size), now); w > wait {
			wait, rc = w, packet.QuotaExceeded
		}
	}
	if wait == 0 {
		c.throttledSince = 0
		return nil
	}
	if c.throttledSince == 0 {
		c.throttledSince = now
	} else if now-c.throttledSince > int64(c.srv.opts.MaxThrottle) {
		c.srv.stats.throttled.Add(1)
		return rc
	}
	c.pauseUntil = now + int64(wait)
	return nil
}

// flapGuard refuses client ids that connect too often: more than
// FlapThreshold CONNECTs within FlapWindow bans the id for FlapBan. It also
// holds the node's connection-rate bucket.
type flapGuard struct {
	mu      sync.Mutex
	ids     map[string]*flapState
	connect *bucket
}

type flapState struct {
	windowStart int64
	count       int
	bannedUntil int64
}

func newFlapGuard(o *Options, now int64) *flapGuard {
	g := &flapGuard{ids: make(map[string]*flapState)}
	if o.MaxConnectionRate > 0 {
		g.connect = newBucket(o.MaxConnectionRate, now)
	}
	return g
}

// admit decides a CONNECT: Success, or ConnectionRateExceeded for a node
// over its connection rate or a flapping client id.
func (srv *Server) admit(id string, now int64) packet.ReasonCode {
	o := &srv.opts
	g := srv.flaps
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.connect != nil && g.connect.take(1, now) > 0 {
		// Give the token back: a refused CONNECT should not keep the
		// bucket empty for the others.
		g.connect.tokens++
		return packet.ConnectionRateExceeded
	}
	if o.FlapThreshold <= 0 {
		return packet.Success
	}
	st := g.ids[id]
	if st == nil {
		st = &flapState{windowStart: now}
		g.ids[id] = st
	}
	if st.bannedUntil > now {
		return packet.ConnectionRateExceeded
	}
	if now-st.windowStart > int64(o.FlapWindow) {
		st.windowStart, st.count = now, 0
	}
	st.count++
	if st.count > o.FlapThreshold {
		st.bannedUntil = now + int64(o.FlapBan)
		srv.log.Warn("client id flapping: refused for a while", "client", id,
			"connects", st.count, "window", o.FlapWindow, "ban", o.FlapBan)
		return packet.ConnectionRateExceeded
	}
	return packet.Success
}

// pruneFlaps forgets client ids whose window and ban are over, so the map
// does not grow with every id ever seen.
func (srv *Server) pruneFlaps(now int64) {
	o := &srv.opts
	g := srv.flaps
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, st := range g.ids {
		if now-st.windowStart > int64(o.FlapWindow) && st.bannedUntil <= now {
			delete(g.ids, id)
		}
	}
}
