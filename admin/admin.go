// Package admin is the node's admin HTTP listener: Prometheus metrics,
// health and readiness probes, the REST API under /api/v1 and a small
// dashboard page. It is meant for a private address (the default is
// 127.0.0.1:8081), apart from the MQTT ports.
//
//	GET    /healthz                    the process is alive (always 200)
//	GET    /readyz                     every ReadyCheck passes (200) or not (503)
//	GET    /metrics                    Prometheus text format
//	GET    /                           the dashboard (static; it asks for the token)
//	GET    /api/v1/node                id, version, uptime, counters
//	GET    /api/v1/clients             ?search=&limit=
//	GET    /api/v1/clients/{id}        one client and its session
//	DELETE /api/v1/clients/{id}        disconnect (MQTT 5: DISCONNECT 0x98)
//	GET    /api/v1/sessions            ?search=&limit=
//	GET    /api/v1/subscriptions       ?client=&filter=&topic=&limit=
//	GET    /api/v1/retained            ?filter=&limit=
//	DELETE /api/v1/retained/{topic...} or ?topic=
//
// The API needs "Authorization: Bearer TOKEN"; with no token configured it
// is disabled (404) and only the probes, metrics and the page are served.
// docs/operations.md documents every endpoint with curl examples.
//
// Extension points for other layers (wired by cmd/mqttio): Registry takes
// more Prometheus collectors (the cluster's), AddReadyCheck more readiness
// conditions ("joined", "quorum reachable").
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqttio/mqttio/broker"
)

// ReadyCheck is one condition of /readyz. Check returns nil when the node
// may take traffic; it must be fast and safe for concurrent use.
type ReadyCheck struct {
	Name  string
	Check func() error
}

// Options configures the admin listener.
type Options struct {
	Broker  *broker.Server // required
	NodeID  string
	Version string
	// Token is the bearer token of the API; "" disables the API.
	Token  string
	Logger *slog.Logger // nil: slog.Default()
	// Registry receives the broker collector; nil: a new registry with the
	// Go runtime and process collectors too.
	Registry    *prometheus.Registry
	ReadyChecks []ReadyCheck
}

// Server is the admin HTTP handler and, once Serve is called, its server.
type Server struct {
	opts     Options
	log      *slog.Logger
	registry *prometheus.Registry
	mux      *http.ServeMux
	token    atomic.Pointer[[32]byte] // SHA-256 of the token; nil: API disabled

	mu     sync.Mutex
	checks []ReadyCheck
	hs     *http.Server
}

// New builds the handler. It registers the broker collector on the
// registry.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o, log: o.Logger.With("component", "admin"), checks: append([]ReadyCheck(nil), o.ReadyChecks...)}
	s.registry = o.Registry
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
		s.registry.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	s.registry.MustRegister(NewBrokerCollector(o.Broker, o.NodeID, o.Version))
	s.SetToken(o.Token)
	s.routes()
	return s
}

// Registry is where more collectors go (the cluster's, for instance).
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// AddReadyCheck adds a condition to /readyz.
func (s *Server) AddReadyCheck(name string, check func() error) {
	s.mu.Lock()
	s.checks = append(s.checks, ReadyCheck{Name: name, Check: check})
	s.mu.Unlock()
}

// SetToken replaces the API token ("" disables the API), e.g. after the
// token file changed.
func (s *Server) SetToken(token string) {
	if token == "" {
		s.token.Store(nil)
		return
	}
	h := sha256.Sum256([]byte(token))
	s.token.Store(&h)
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves l until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.hs = hs
	s.mu.Unlock()
	if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server started by Serve, waiting for requests in
// progress until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	return hs.Shutdown(ctx)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	m.HandleFunc("GET /readyz", s.readyz)
	m.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		EnableOpenMetrics: true,
	}))
	s.dashboardRoutes(m)

	api := func(pattern string, h http.HandlerFunc) { m.Handle(pattern, s.authorized(h)) }
	api("GET /api/v1/node", s.node)
	api("GET /api/v1/clients", s.listClients)
	api("GET /api/v1/clients/{id...}", s.getClient)
	api("DELETE /api/v1/clients/{id...}", s.kickClient)
	api("GET /api/v1/sessions", s.listSessions)
	api("GET /api/v1/subscriptions", s.listSubscriptions)
	api("GET /api/v1/retained", s.listRetained)
	api("DELETE /api/v1/retained", s.deleteRetained)
	api("DELETE /api/v1/retained/{topic...}", s.deleteRetained)
	s.mux = m
}

// authorized checks the bearer token in constant time. The token is never
// logged.
func (s *Server) authorized(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := s.token.Load()
		if want == nil {
			writeError(w, http.StatusNotFound, "the admin API is disabled: set admin.token (or admin.token_file)")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if h := sha256.Sum256([]byte(strings.TrimSpace(got))); !ok || subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
			s.log.Debug("admin API request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="mqttio"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r)
	})
}

// readyz runs every check; any failure answers 503 with the reasons.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	checks := append([]ReadyCheck(nil), s.checks...)
	s.mu.Unlock()
	res := map[string]string{}
	ok := true
	for _, c := range checks {
		if err := c.Check(); err != nil {
			res[c.Name] = err.Error()
			ok = false
			continue
		}
		res[c.Name] = "ok"
	}
	code := http.StatusOK
	status := "ready"
	if !ok {
		code, status = http.StatusServiceUnavailable, "not ready"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": res})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
