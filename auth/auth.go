// Package auth turns a password file and an ACL file into the broker's
// Authorizer: bcrypt (or mosquitto) password hashes, anonymous access on or
// off, the client-certificate CN as the username, and topic rights compiled
// into tries. Both files are immutable snapshots swapped atomically by
// Reload (SIGHUP), so a reload never disturbs a connected client: new
// CONNECTs see the new passwords, every later check the new rules.
//
// The format of both files and the measured costs are in
// docs/operations.md.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/packet"
)

// Options configures an Authorizer.
type Options struct {
	// PasswordFile holds "user:hash" lines; "" means usernames are not
	// checked (any username is accepted when AllowAnonymous is set).
	PasswordFile string
	// ACLFile holds topic rights; "" allows every client everything.
	ACLFile string
	// AllowAnonymous admits clients that send no username (and, without a
	// password file, any client).
	AllowAnonymous bool
	// CertCNAsUsername: a client with a verified certificate (mTLS) is
	// authenticated by it, and its subject CN is its username for the ACL.
	CertCNAsUsername bool
	// CacheTTL is how long a password verification result is remembered
	// per (user, stored hash, presented password); 0 disables the cache.
	CacheTTL time.Duration
	// Logger gets refusals (rate-limited) and reloads; nil: slog.Default().
	Logger *slog.Logger
}

// Authorizer implements broker.Authorizer.
type Authorizer struct {
	opts  Options
	log   *slog.Logger
	pw    atomic.Pointer[Passwords] // nil: no password file
	acl   atomic.Pointer[ACL]       // nil: no ACL file
	cache *verifyCache
	limit logLimiter

	hashes, cacheHits       atomic.Int64
	reloads, reloadFailures atomic.Int64
	lastReload              atomic.Int64 // unix nanos
}

var _ broker.Authorizer = (*Authorizer)(nil)

// New loads the files named in opts.
func New(opts Options) (*Authorizer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &Authorizer{opts: opts, log: opts.Logger.With("component", "auth")}
	if opts.CacheTTL > 0 {
		a.cache = newVerifyCache(opts.CacheTTL, 100_000)
	}
	pw, acl, err := a.load()
	if err != nil {
		return nil, err
	}
	a.pw.Store(pw)
	a.acl.Store(acl)
	a.lastReload.Store(time.Now().UnixNano())
	return a, nil
}

func (a *Authorizer) load() (*Passwords, *ACL, error) {
	var pw *Passwords
	var acl *ACL
	var errs []error
	if a.opts.PasswordFile != "" {
		p, err := LoadPasswords(a.opts.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("password file: %w", err))
		}
		pw = p
	}
	if a.opts.ACLFile != "" {
		l, err := LoadACL(a.opts.ACLFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("acl file: %w", err))
		}
		acl = l
	}
	return pw, acl, errors.Join(errs...)
}

// Reload re-reads both files. Either both new snapshots take effect or,
// when one does not load, neither does and the error says why. Connected
// clients are not disturbed: a revoked user stays connected (kick it with
// the admin API) but cannot connect again, and changed rules apply to the
// next check.
func (a *Authorizer) Reload() error {
	pw, acl, err := a.load()
	if err != nil {
		a.reloadFailures.Add(1)
		a.log.Error("auth reload failed; keeping the previous files", "err", err)
		return err
	}
	a.pw.Store(pw)
	a.acl.Store(acl)
	a.reloads.Add(1)
	a.lastReload.Store(time.Now().UnixNano())
	attrs := []any{}
	if pw != nil {
		attrs = append(attrs, "users", pw.Len())
	}
	if acl != nil {
		attrs = append(attrs, "acl_rules", acl.Rules())
	}
	a.log.Info("auth reloaded", attrs...)
	return nil
}

// username is the identity the ACL uses for a client.
func (a *Authorizer) username(ci *broker.ClientInfo) string {
	if a.opts.CertCNAsUsername && ci.CommonName != "" {
		return ci.CommonName
	}
	return ci.Username
}

// Authenticate implements broker.Authorizer. It may take as long as one
// bcrypt verification (see DefaultCost) when the result is not cached.
func (a *Authorizer) Authenticate(ci *broker.ClientInfo, password []byte) packet.ReasonCode {
	if a.opts.CertCNAsUsername && ci.CommonName != "" {
		return packet.Success // the TLS layer verified the certificate
	}
	if ci.Username == "" {
		if a.opts.AllowAnonymous {
			return packet.Success
		}
		a.refused(ci, "anonymous access is disabled", packet.NotAuthorized)
		return packet.NotAuthorized
	}
	pw := a.pw.Load()
	if pw == nil {
		if a.opts.AllowAnonymous {
			return packet.Success // no password file: the username is not checked
		}
		a.refused(ci, "no password file and anonymous access is disabled", packet.NotAuthorized)
		return packet.NotAuthorized
	}
	e, known := pw.users[ci.Username]
	if !known {
		e = pw.decoy // take as long as a wrong password
	}
	ok := e != nil && a.verify(ci.Username, e, password) // runs for unknown users too
	if !known || !ok {
		why := "wrong password"
		if !known {
			why = "unknown user"
		}
		a.refused(ci, why, packet.BadUserNameOrPassword)
		return packet.BadUserNameOrPassword
	}
	return packet.Success
}

// verify checks a password through the cache.
func (a *Authorizer) verify(user string, e *entry, password []byte) bool {
	if a.cache == nil {
		a.hashes.Add(1)
		return e.verify(password)
	}
	key := a.cache.key(user, e.hash, password)
	ok, hit := a.cache.do(key, func() bool {
		a.hashes.Add(1)
		return e.verify(password)
	})
	if hit {
		a.cacheHits.Add(1)
	}
	return ok
}

// refused logs a refused CONNECT, at most a few per second. The password
// is never logged.
func (a *Authorizer) refused(ci *broker.ClientInfo, why string, rc packet.ReasonCode) {
	if n, ok := a.limit.allow(); ok {
		attrs := []any{"client", ci.ClientID, "username", ci.Username, "remote", addrString(ci), "reason", why, "code", rc.String()}
		if n > 0 {
			attrs = append(attrs, "suppressed", n)
		}
		a.log.Info("authentication failed", attrs...)
	}
}

func addrString(ci *broker.ClientInfo) string {
	if ci.RemoteAddr == nil {
		return ""
	}
	return ci.RemoteAddr.String()
}

// Authorize implements broker.Authorizer. Without an ACL file everything is
// allowed.
func (a *Authorizer) Authorize(ci *broker.ClientInfo, act broker.Action, topic string) bool {
	acl := a.acl.Load()
	if acl == nil {
		return true
	}
	return acl.Allowed(a.username(ci), ci.ClientID, act, topic)
}

// Stats are the Authorizer's counters.
type Stats struct {
	Users          int   // in the password file
	ACLRules       int   // in the ACL file
	Verifications  int64 // password hashes computed (cache misses)
	CacheHits      int64 // verifications answered from the cache
	Reloads        int64
	ReloadFailures int64
	LastReload     time.Time
}

// Stats returns a snapshot of the counters.
func (a *Authorizer) Stats() Stats {
	st := Stats{
		Verifications:  a.hashes.Load(),
		CacheHits:      a.cacheHits.Load(),
		Reloads:        a.reloads.Load(),
		ReloadFailures: a.reloadFailures.Load(),
		LastReload:     time.Unix(0, a.lastReload.Load()),
	}
	if pw := a.pw.Load(); pw != nil {
		st.Users = pw.Len()
	}
	if acl := a.acl.Load(); acl != nil {
		st.ACLRules = acl.Rules()
	}
	return st
}

// ---- the verification cache ----

// verifyCache remembers password verification results, keyed by a keyed
// SHA-256 of (user, stored hash, presented password): a changed password
// in the file changes the key, and the presented password is never kept.
// Concurrent verifications of one key run once (a reconnect storm of one
// device fleet costs one bcrypt, not one per device).
type verifyCache struct {
	ttl    time.Duration
	max    int
	secret [32]byte

	mu       sync.Mutex
	entries  map[[32]byte]cached
	inflight map[[32]byte]*call
}

type cached struct {
	ok      bool
	expires int64 // unix nanos
}

type call struct {
	done chan struct{}
	ok   bool
}

func newVerifyCache(ttl time.Duration, max int) *verifyCache {
	c := &verifyCache{ttl: ttl, max: max, entries: make(map[[32]byte]cached), inflight: make(map[[32]byte]*call)}
	rand.Read(c.secret[:])
	return c
}

func (c *verifyCache) key(user string, hash, password []byte) [32]byte {
	h := sha256.New()
	h.Write(c.secret[:])
	var n [8]byte
	for _, b := range [][]byte{[]byte(user), hash, password} {
		l := len(b)
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(b)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// do returns the cached result of key or computes it with fn, once for
// all concurrent callers.
func (c *verifyCache) do(key [32]byte, fn func() bool) (ok, hit bool) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	if e, found := c.entries[key]; found && e.expires > now {
		c.mu.Unlock()
		return e.ok, true
	}
	if cl := c.inflight[key]; cl != nil {
		c.mu.Unlock()
		<-cl.done
		return cl.ok, true
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[key] = cl
	c.mu.Unlock()

	cl.ok = fn()

	c.mu.Lock()
	delete(c.inflight, key)
	if len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[key] = cached{ok: cl.ok, expires: time.Now().Add(c.ttl).UnixNano()}
	c.mu.Unlock()
	close(cl.done)
	return cl.ok, false
}

// evictLocked drops expired entries, or everything when none has expired
// (a flood of distinct passwords must not grow the map without bound).
func (c *verifyCache) evictLocked(now int64) {
	for k, e := range c.entries {
		if e.expires <= now {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
}

// ---- log rate limiting ----

// logLimiter lets through a burst of lines, then one per interval, and
// counts what it held back.
type logLimiter struct {
	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

const (
	logBurst = 10
	logRate  = 2 // lines per second after the burst
)

// allow reports whether a line may be logged now, and how many were
// suppressed since the last one that was.
func (l *logLimiter) allow() (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.last.IsZero() {
		l.tokens = logBurst
	} else {
		l.tokens = min(logBurst, l.tokens+now.Sub(l.last).Seconds()*logRate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return 0, false
	}
	l.tokens--
	n := l.suppressed
	l.suppressed = 0
	return n, true
}
