// Command brokerprof runs the mqttio broker core in-process, as
// cmd/mqttio does for a single node with a TCP listener, and writes CPU
// and allocation profiles of it (cmd/mqttio has no profiling option).
// bench/profile.sh drives it with mqttio-bench.
//
//	brokerprof -listen 127.0.0.1:1883 -cpuprofile cpu.prof -memprofile allocs.prof
//
// Profiling starts once the listener is up and stops on SIGINT or SIGTERM
// (or after -duration), when the profiles are written and the broker shuts
// down. With -data-dir the bbolt store is opened as cmd/mqttio opens it;
// with -listen-http the WebSocket and Socket.IO endpoints are served too.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/storage"
	"github.com/mqttio/mqttio/transport/httpmux"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "brokerprof:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		listen      = flag.String("listen", "127.0.0.1:1883", "MQTT TCP `address`")
		listenHTTP  = flag.String("listen-http", "", "HTTP `address` for MQTT over WebSocket (/mqtt) and Socket.IO (/socket.io/)")
		dataDir     = flag.String("data-dir", "", "open the bbolt store in this `directory` (default: no store)")
		cpuProfile  = flag.String("cpuprofile", "", "write a CPU profile to this `file`")
		memProfile  = flag.String("memprofile", "", "write an allocation profile (allocs) to this `file`")
		mutexProf   = flag.String("mutexprofile", "", "write a mutex contention profile to this `file`")
		traceFile   = flag.String("trace", "", "write an execution trace to this `file` (go tool trace -pprof=sched)")
		duration    = flag.Duration("duration", 0, "stop after this long (0: on SIGINT/SIGTERM only)")
		maxInflight = flag.Int("max-inflight", 20, "mqtt.max_inflight (bench/compare uses Mosquitto's 20)")
		maxQueued   = flag.Int("max-queued", 1000, "mqtt.max_queued_messages (bench/compare uses Mosquitto's 1000)")
	)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := broker.Options{
		Logger:            logger,
		MaxInflight:       *maxInflight,
		MaxQueuedMessages: *maxQueued,
	}
	if *dataDir != "" {
		if err := os.MkdirAll(*dataDir, 0o750); err != nil {
			return err
		}
		db, err := storage.Open(storage.Options{Path: filepath.Join(*dataDir, "mqttio.db"), Logger: logger})
		if err != nil {
			return err
		}
		defer db.Close()
		opts.Store = db
	}
	srv, err := broker.New(opts)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	go srv.Serve(l, "tcp")
	if *listenHTTP != "" {
		mux := httpmux.New(httpmux.Options{Logger: logger, NoPage: true})
		defer mux.Close()
		for name, ml := range mux.Listeners() {
			go srv.Serve(ml, name)
		}
		hl, err := net.Listen("tcp", *listenHTTP)
		if err != nil {
			return err
		}
		hs := httpmux.NewHTTPServer(*listenHTTP, mux)
		defer hs.Close()
		go hs.Serve(hl)
	}

	if *mutexProf != "" {
		runtime.SetMutexProfileFraction(5)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return err
		}
		if err := trace.Start(f); err != nil {
			return err
		}
		defer f.Close()
	}
	fmt.Fprintf(os.Stderr, "brokerprof: listening on %s, pid %d\n", l.Addr(), os.Getpid())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	<-ctx.Done()

	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		trace.Stop()
	}
	for _, p := range []struct{ file, name string }{{*memProfile, "allocs"}, {*mutexProf, "mutex"}} {
		if p.file == "" {
			continue
		}
		f, err := os.Create(p.file)
		if err != nil {
			return err
		}
		if err := pprof.Lookup(p.name).WriteTo(f, 0); err != nil {
			return err
		}
		f.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
