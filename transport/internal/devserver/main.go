// Command devserver serves every HTTP transport and the browser page with
// the fake broker behind them, to try the page (or a client) by hand before
// the real core is wired: go run ./transport/internal/devserver -addr :8080
package main

import (
	"flag"
	"log/slog"
	"os"

	"github.com/mqttio/mqttio/transport/httpmux"
	"github.com/mqttio/mqttio/transport/internal/mqttfake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	debug := flag.Bool("debug", false, "debug logs")
	flag.Parse()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	mux := httpmux.New(httpmux.Options{Logger: log})
	broker := mqttfake.New()
	for _, l := range mux.Listeners() {
		go broker.Serve(l)
	}
	log.Info("devserver: serving the HTTP transports with a fake broker", "addr", *addr)
	if err := httpmux.NewHTTPServer(*addr, mux).ListenAndServe(); err != nil {
		log.Error("devserver", "err", err)
		os.Exit(1)
	}
}
