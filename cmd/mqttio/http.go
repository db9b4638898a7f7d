package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/mqttio/mqttio/transport"
	"github.com/mqttio/mqttio/transport/engineio"
	"github.com/mqttio/mqttio/transport/httpmux"
	"github.com/mqttio/mqttio/transport/tcp"
)

// httpFront is the HTTP side of a node: one mux (MQTT over WebSocket at
// /mqtt, Socket.IO at /socket.io/, Engine.IO at /engine.io/, the browser
// page at /) served on the HTTP and, when configured, HTTPS listeners.
type httpFront struct {
	mux     *httpmux.Mux
	servers []*http.Server
	addrs   map[string]net.Addr // "http", "https"
}

// startHTTP opens the HTTP listeners; it returns nil when both are off.
// The mux's own listeners ("ws", "socketio", "engineio") are returned for
// the broker to serve.
func startHTTP(cfg Config, logger *slog.Logger) (*httpFront, []namedListener, error) {
	ls := cfg.Listeners
	if ls.HTTP.Address == "" && !ls.HTTPS.Enabled() {
		return nil, nil, nil
	}
	f := &httpFront{addrs: make(map[string]net.Addr)}
	f.mux = httpmux.New(httpmux.Options{
		CORS: transport.CORS{AllowedOrigins: ls.HTTP.CORSOrigins, AllowCredentials: ls.HTTP.CORSCredentials},
		// The node id in every Engine.IO session id lets a cluster send a
		// polling request to the node that holds its session.
		EngineIO: engineio.Options{SIDPrefix: cfg.NodeID},
		Logger:   logger,
	})
	var named []namedListener
	for name, l := range f.mux.Listeners() {
		named = append(named, namedListener{name, l})
	}
	serve := func(name, addr string, tlsCfg *tls.Config) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listeners.%s: %w", name, err)
		}
		srv := httpmux.NewHTTPServer(addr, f.mux)
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
		if tlsCfg != nil {
			l = tls.NewListener(l, tlsCfg)
		}
		f.servers = append(f.servers, srv)
		f.addrs[name] = l.Addr()
		logger.Info("listening", "transport", name, "address", l.Addr().String())
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("http listener stopped", "listener", name, "err", err)
			}
		}()
		return nil
	}
	if ls.HTTP.Address != "" {
		if err := serve("http", ls.HTTP.Address, nil); err != nil {
			f.close(context.Background())
			return nil, nil, err
		}
	}
	if ls.HTTPS.Enabled() {
		tlsCfg, err := tcp.ServerConfig(tcp.TLSConfig{CertFile: ls.HTTPS.CertFile, KeyFile: ls.HTTPS.KeyFile})
		if err == nil {
			err = serve("https", ls.HTTPS.Address, tlsCfg)
		}
		if err != nil {
			f.close(context.Background())
			return nil, nil, fmt.Errorf("listeners.https: %w", err)
		}
	}
	return f, named, nil
}

// close stops accepting HTTP requests and ends every Engine.IO session.
func (f *httpFront) close(ctx context.Context) {
	if f == nil {
		return
	}
	for _, s := range f.servers {
		// Held long-polling GETs would keep Shutdown waiting: close them.
		if err := s.Shutdown(ctx); err != nil {
			s.Close()
		}
	}
	f.mux.Close()
}

// addr returns the bound address of the "http" or "https" listener.
func (f *httpFront) addr(name string) net.Addr {
	if f == nil {
		return nil
	}
	return f.addrs[name]
}
