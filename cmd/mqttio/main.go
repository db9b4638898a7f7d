// Command mqttio runs one node of the mqttio MQTT broker.
//
//	mqttio [serve] [flags]   start a node (the default command)
//	mqttio config [flags]    print the effective configuration as YAML
//	mqttio version           print the version (also: mqttio --version)
//	mqttio health [flags]    exit 0 when the local node is ready (health.go)
//	mqttio passwd add|delete FILE USER   manage a password file (passwd.go)
//	mqttio clients list|kick [ID]        call the admin API (clients.go)
//
// Exit status: 0 after a clean stop (SIGINT or SIGTERM), 1 when the node
// cannot start or stops on an error, 2 for a bad command line or
// configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/cluster"
	"github.com/mqttio/mqttio/transport/tcp"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// run is main without the process: it returns the exit code.
func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "health" { // its own flags: health.go
		return runHealth(args[1:], environ, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "passwd" { // passwd.go
		return runPasswd(args[1:], os.Stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "clients" { // clients.go
		return runClients(args[1:], environ, stdout, stderr)
	}
	cmd, cl, err := parseCommandLine(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "mqttio:", err)
		return exitUsage
	}
	if cmd == "version" || cl.version {
		fmt.Fprintf(stdout, "mqttio %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	}
	cfg, err := Load(LoadOptions{File: cl.configFile, Environ: environ, Flags: cl.settings})
	if err != nil {
		fmt.Fprintln(stderr, "mqttio:", err)
		return exitUsage
	}
	if cmd == "config" {
		enc := yaml.NewEncoder(stdout)
		enc.SetIndent(2)
		if err := enc.Encode(cfg); err != nil {
			fmt.Fprintln(stderr, "mqttio:", err)
			return exitError
		}
		return exitOK
	}

	logger := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the password, ACL and token files (ops.go); it is
	// caught from the start, so an early one does not kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	n, err := startNode(cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "mqttio:", err)
		return exitError
	}
	code := exitOK
wait:
	for {
		select {
		case <-ctx.Done():
			logger.Info("signal received, shutting down", "timeout", cfg.ShutdownTimeout)
			break wait
		case err := <-n.failed:
			logger.Error("shutting down after a listener failed", "err", err, "timeout", cfg.ShutdownTimeout)
			code = exitError
			break wait
		case <-hup:
			logger.Info("SIGHUP received, reloading")
			n.Reload()
		}
	}
	stop() // a second signal now kills the process at once
	if err := n.Stop(); err != nil {
		logger.Error("shutdown failed", "err", err)
		return exitError
	}
	logger.Info("stopped")
	return code
}

// commandLine is what the command line says besides the subcommand.
type commandLine struct {
	configFile string
	version    bool
	settings   []Setting // in command-line order: the last one of a key wins
}

// keyFlags are the shorthands for common keys; --set reaches every key.
var keyFlags = []struct{ name, key, usage string }{
	{"node-id", "node_id", "`name` of this node (default: the host name)"},
	{"data-dir", "data_dir", "`directory` of the node's data (mqttio.db)"},
	{"log-level", "log.level", "`level`: debug, info, warn or error"},
	{"log-format", "log.format", "`format`: text or json"},
	{"listen-tcp", "listeners.tcp.address", "MQTT over TCP `address`, e.g. :1883 (\"\" disables)"},
	{"listen-tls", "listeners.tls.address", "MQTT over TLS `address`, e.g. :8883"},
	{"tls-cert", "listeners.tls.cert_file", "PEM certificate chain `file` of the TLS listener"},
	{"tls-key", "listeners.tls.key_file", "PEM private key `file` of the TLS listener"},
	{"tls-client-ca", "listeners.tls.client_ca_file", "PEM CA bundle `file` for client certificates"},
	{"tls-client-auth", "listeners.tls.client_auth", "client certificates (`policy`): none, request or require"},
	{"listen-http", "listeners.http.address", "HTTP (WebSocket, Socket.IO) `address` (\"\" disables)"},
	{"listen-https", "listeners.https.address", "HTTPS `address` (\"\" disables)"},
	{"shutdown-timeout", "shutdown_timeout", "how long a stop may take (`duration`, e.g. 10s)"},
	{"listen-admin", "admin.address", "admin HTTP `address`: metrics, probes, API (\"\" disables)"},
}

func parseCommandLine(args []string, stderr io.Writer) (string, commandLine, error) {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "config", "version":
	case "help":
		args = []string{"-help"}
	default:
		return "", commandLine{}, fmt.Errorf("unknown command %q (want serve, config, version, health, passwd or clients; see mqttio --help)", cmd)
	}

	var cl commandLine
	fs := flag.NewFlagSet("mqttio", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage is printed on -help only
	fs.StringVar(&cl.configFile, "config", "", "YAML configuration `file`")
	fs.BoolVar(&cl.version, "version", false, "print the version and exit")
	fs.Func("set", "set any configuration `key=value`, e.g. --set mqtt.max_inflight=64 (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return errors.New("want key=value")
		}
		cl.settings = append(cl.settings, Setting{Key: strings.TrimSpace(k), Value: v, Origin: "--set"})
		return nil
	})
	for _, kf := range keyFlags {
		fs.Func(kf.name, kf.usage+" ("+kf.key+")", func(v string) error {
			cl.settings = append(cl.settings, Setting{Key: kf.key, Value: v, Origin: "--" + kf.name})
			return nil
		})
	}
	fs.Usage = func() {}
	usage := func() {
		fs.SetOutput(stderr)
		fmt.Fprint(stderr, `Usage:
  mqttio [serve] [flags]   start a node (the default)
  mqttio config [flags]    print the effective configuration as YAML
  mqttio version           print the version
  mqttio health [flags]    exit 0 when the local node is ready (see mqttio health --help)
  mqttio passwd add|delete FILE USER   manage a password file (see mqttio passwd --help)
  mqttio clients list|kick [ID]        list or disconnect clients (see mqttio clients --help)

Configuration layers, later wins: defaults, --config file, MQTTIO_* environment
variables (MQTTIO_MQTT_MAX_INFLIGHT=64), flags. Keys: docs/configuration.md.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return "", commandLine{}, err
		}
		return "", commandLine{}, fmt.Errorf("%v (see mqttio --help)", err)
	}
	if fs.NArg() > 0 {
		return "", commandLine{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cmd, cl, nil
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo // Validate has refused anything else
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// node is one running broker with its store and listeners.
type node struct {
	cfg        Config
	log        *slog.Logger
	srv        *broker.Server
	closeStore func() error
	listeners  []namedListener
	http       *httpFront // nil when the HTTP listeners are off
	serving    sync.WaitGroup
	stopping   atomic.Bool
	failed     chan error // a listener's Serve failed: the node must stop
	ops        nodeOps    // authorizer and admin listener (ops.go)
	cluster    *cluster.Node
}

type namedListener struct {
	name string // transport name: "tcp", "tls"
	l    net.Listener
}

// startNode opens the store, creates the broker and starts serving every
// enabled listener. On error everything opened so far is closed again.
func startNode(cfg Config, logger *slog.Logger) (_ *node, err error) {
	n := &node{cfg: cfg, log: logger, failed: make(chan error, 4)}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	st, closeStore, err := openStore(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	n.closeStore = closeStore
	defer func() {
		if err != nil {
			n.http.close(context.Background())
			n.stopAdmin(context.Background())
			for _, nl := range n.listeners {
				nl.l.Close()
			}
			if cerr := closeStore(); cerr != nil {
				logger.Error("storage: close", "err", cerr)
			}
		}
	}()

	opts := cfg.BrokerOptions()
	opts.Version = version
	opts.Logger = logger
	opts.Store = st
	if n.ops.auth, err = newAuthorizer(cfg, logger); err != nil {
		return nil, err
	}
	if n.ops.auth != nil {
		opts.Auth = n.ops.auth
	}
	var cn *cluster.Node
	if cfg.Cluster.Enabled() {
		if cn, err = newClusterNode(cfg, logger); err != nil {
			return nil, err
		}
		opts.Cluster = cn
		defer func() {
			if err != nil {
				cn.Close()
			}
		}()
	}
	n.srv, err = broker.New(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if cn != nil {
		if err := n.startCluster(cn, n.srv); err != nil {
			return nil, err
		}
	}

	ls := cfg.Listeners
	if ls.TCP.Address != "" {
		l, err := tcp.Listen(ls.TCP.Address)
		if err != nil {
			return nil, fmt.Errorf("listeners.tcp: %w", err)
		}
		n.listeners = append(n.listeners, namedListener{"tcp", l})
	}
	if ls.TLS.Enabled() {
		l, err := tcp.ListenTLS(ls.TLS.Address, tcp.TLSConfig{
			CertFile:     ls.TLS.CertFile,
			KeyFile:      ls.TLS.KeyFile,
			ClientCAFile: ls.TLS.ClientCAFile,
			ClientAuth:   ls.TLS.ClientAuth,
		})
		if err != nil {
			return nil, fmt.Errorf("listeners.tls: %w", err)
		}
		n.listeners = append(n.listeners, namedListener{"tls", l})
	} else if ls.TLS.Address != "" {
		logger.Debug("TLS listener off: no cert_file/key_file", "address", ls.TLS.Address)
	}
	front, httpListeners, err := startHTTP(cfg, logger)
	if err != nil {
		return nil, err
	}
	n.http = front
	n.listeners = append(n.listeners, httpListeners...)
	if err := n.listenAdmin(); err != nil {
		return nil, err
	}

	for _, nl := range n.listeners {
		logger.Info("listening", "transport", nl.name, "address", nl.l.Addr().String())
		n.serving.Add(1)
		go n.serve(nl)
	}
	n.serveAdmin()
	logger.Info("mqttio started", "node_id", cfg.NodeID, "version", version,
		"data_dir", cfg.DataDir, "pid", os.Getpid())
	return n, nil
}

func (n *node) serve(nl namedListener) {
	defer n.serving.Done()
	err := n.srv.Serve(nl.l, nl.name)
	if err == nil || errors.Is(err, broker.ErrServerClosed) || n.stopping.Load() {
		return
	}
	// Serve retries temporary accept errors itself; anything else leaves
	// the node without one of its listeners. Stop the whole node (exit
	// status 1) rather than run half-deaf: a supervisor restarts it.
	err = fmt.Errorf("%s listener %s: %w", nl.name, nl.l.Addr(), err)
	select {
	case n.failed <- err:
	default:
	}
}

// Addr returns the bound address of the listener of transport name, or nil.
func (n *node) Addr(name string) net.Addr {
	if a := n.http.addr(name); a != nil {
		return a
	}
	for _, nl := range n.listeners {
		if nl.name == name {
			return nl.l.Addr()
		}
	}
	return nil
}

// Stop shuts the broker down within cfg.ShutdownTimeout (clients are sent
// DISCONNECT and closed, pending writes are committed), then closes the
// store. Only a store that fails to close is an error: a shutdown that
// runs out of time is logged, and the store is closed anyway.
func (n *node) Stop() error {
	n.stopping.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	if n.http != nil {
		// Stop taking HTTP requests first; the broker then disconnects
		// the WebSocket and Socket.IO clients like every other.
		hctx, hcancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout/4)
		n.http.close(hctx)
		hcancel()
	}
	if err := n.srv.Shutdown(ctx); err != nil {
		n.log.Warn("broker shutdown incomplete", "err", err)
	}
	n.leaveCluster(ctx)
	n.stopAdmin(ctx)
	for _, nl := range n.listeners {
		nl.l.Close() // Shutdown has closed them already; this is a safety net
	}
	done := make(chan struct{})
	go func() { n.serving.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.log.Warn("listeners still serving after the shutdown timeout")
	}
	if err := n.closeStore(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}
