package main

// Operations wiring of a node: the authorizer (auth.*), the admin listener
// (admin.*) and the SIGHUP reload of their files.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/mqttio/mqttio/admin"
	"github.com/mqttio/mqttio/auth"
)

// nodeOps is the node's operations side.
type nodeOps struct {
	auth      *auth.Authorizer // nil: no checks at all
	admin     *admin.Server    // nil: admin.address ""
	adminL    net.Listener
	adminDone chan error
}

// newAuthorizer builds the authorizer the configuration asks for, or nil
// when it asks for none (the broker then checks nothing).
func newAuthorizer(cfg Config, logger *slog.Logger) (*auth.Authorizer, error) {
	if !cfg.AuthEnabled() {
		return nil, nil
	}
	a, err := auth.New(auth.Options{
		PasswordFile:     cfg.Auth.PasswordFile,
		ACLFile:          cfg.Auth.ACLFile,
		AllowAnonymous:   cfg.AnonymousAllowed(),
		CertCNAsUsername: cfg.Auth.UseCertCNAsUsername,
		CacheTTL:         cfg.Auth.CacheTTL,
		Logger:           logger,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	st := a.Stats()
	logger.Info("auth enabled", "component", "auth", "users", st.Users, "acl_rules", st.ACLRules,
		"allow_anonymous", cfg.AnonymousAllowed(), "cert_cn_as_username", cfg.Auth.UseCertCNAsUsername)
	if cfg.Auth.UseCertCNAsUsername && (!cfg.Listeners.TLS.Enabled() || cfg.Listeners.TLS.ClientAuth == "none") {
		logger.Warn("auth.use_cert_cn_as_username is set but the TLS listener asks for no client certificates",
			"component", "auth")
	}
	return a, nil
}

// adminToken returns the API token from admin.token or admin.token_file.
func adminToken(cfg Config) (string, error) {
	if cfg.Admin.TokenFile == "" {
		return cfg.Admin.Token, nil
	}
	data, err := os.ReadFile(cfg.Admin.TokenFile)
	if err != nil {
		return "", fmt.Errorf("admin.token_file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", fmt.Errorf("admin.token_file: %s: want one token, no spaces or control characters", cfg.Admin.TokenFile)
	}
	return tok, nil
}

// listenAdmin binds the admin listener and builds its handler; serving
// starts with serveAdmin once the MQTT listeners are up.
func (n *node) listenAdmin() error {
	cfg := n.cfg
	if cfg.Admin.Address == "" {
		return nil
	}
	tok, err := adminToken(cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	n.ops.adminL = l
	n.ops.admin = admin.New(admin.Options{
		Broker: n.srv, NodeID: cfg.NodeID, Version: version, Token: tok, Logger: n.log,
		ReadyChecks: []admin.ReadyCheck{{Name: "listeners", Check: func() error {
			if n.stopping.Load() {
				return errors.New("shutting down")
			}
			return nil
		}}, {Name: "cluster", Check: n.clusterReady}},
	})
	if n.ops.auth != nil {
		n.ops.admin.Registry().MustRegister(admin.NewAuthCollector(n.ops.auth))
	}
	return nil
}

func (n *node) serveAdmin() {
	if n.ops.admin == nil {
		return
	}
	n.ops.adminDone = make(chan error, 1)
	n.log.Info("admin listening", "address", n.ops.adminL.Addr().String(), "api", n.cfg.Admin.Token != "" || n.cfg.Admin.TokenFile != "")
	go func() { n.ops.adminDone <- n.ops.admin.Serve(n.ops.adminL) }()
}

// stopAdmin stops the admin listener: after the broker, so /readyz says
// "shutting down" while clients are drained, and before the store closes,
// so no API call reaches a closed store.
func (n *node) stopAdmin(ctx context.Context) {
	if n.ops.admin == nil {
		return
	}
	if n.ops.adminDone == nil { // never served: a failed start
		n.ops.adminL.Close()
		return
	}
	if err := n.ops.admin.Shutdown(ctx); err != nil {
		n.log.Warn("admin listener shutdown incomplete", "err", err)
		n.ops.adminL.Close()
	}
	if err := <-n.ops.adminDone; err != nil {
		n.log.Warn("admin listener", "err", err)
	}
	n.ops.adminDone <- nil // a second Stop finds the listener done
}

// AdminAddr returns the bound address of the admin listener, or nil.
func (n *node) AdminAddr() net.Addr {
	if n.ops.adminL == nil {
		return nil
	}
	return n.ops.adminL.Addr()
}

// Reload re-reads the password, ACL and admin token files (SIGHUP).
// Connected clients stay connected. What fails to load is logged and the
// previous version stays in force.
func (n *node) Reload() error {
	var errs []error
	if n.ops.auth != nil {
		errs = append(errs, n.ops.auth.Reload()) // logs itself
	}
	if n.ops.admin != nil && n.cfg.Admin.TokenFile != "" {
		tok, err := adminToken(n.cfg)
		if err != nil {
			n.log.Error("admin token reload failed; keeping the previous token", "err", err)
			errs = append(errs, err)
		} else {
			n.ops.admin.SetToken(tok)
		}
	}
	err := errors.Join(errs...)
	if n.ops.auth == nil && n.cfg.Admin.TokenFile == "" {
		n.log.Info("reload: no password, ACL or token file configured; nothing to reload")
	} else if err == nil {
		n.log.Info("reload complete")
	}
	return err
}
