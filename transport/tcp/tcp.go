// Package tcp provides the plain TCP and TLS listeners that hand the broker
// core its byte streams. It knows nothing of MQTT: it only binds sockets,
// sets socket options and terminates TLS.
package tcp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Keepalive probes on accepted connections. They find peers that vanished
// without a FIN (a NAT that forgot the flow, a powered-off device) even when
// the MQTT keepalive is disabled or long. Idle is well below the usual NAT
// timeouts; after Idle + Count*Interval (2 min) the kernel gives up.
var keepAlive = net.KeepAliveConfig{
	Enable:   true,
	Idle:     60 * time.Second,
	Interval: 15 * time.Second,
	Count:    4,
}

// Listen binds a plain TCP listener on address ("host:port"; port 0 picks a
// free port, read it back from Addr). Accepted connections keep Go's default
// TCP_NODELAY (on: MQTT packets are small and latency matters) and get TCP
// keepalive probes.
func Listen(address string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	l, err := lc.Listen(context.Background(), "tcp", address)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// TLSConfig names the files and client-certificate policy of a TLS listener.
type TLSConfig struct {
	CertFile     string // PEM certificate chain of the server
	KeyFile      string // PEM private key of CertFile
	ClientCAFile string // PEM bundle of CAs that sign client certificates
	// ClientAuth is "none" (or ""): no client certificate is asked for;
	// "request": a client may present one, and it must verify against
	// ClientCAFile if it does; "require": a client must present one that
	// verifies against ClientCAFile (mutual TLS).
	ClientAuth string
}

// ServerConfig builds the *tls.Config of a server: TLS 1.2 or later, the
// certificate of CertFile/KeyFile, and client-certificate verification as
// ClientAuth says. The HTTPS transports use it too.
func ServerConfig(c TLSConfig) (*tls.Config, error) {
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New("tls: cert_file and key_file are both required")
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load key pair %s, %s: %w", c.CertFile, c.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	switch c.ClientAuth {
	case "", "none":
		cfg.ClientAuth = tls.NoClientCert
	case "request":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("tls: client_auth must be none, request or require (got %q)", c.ClientAuth)
	}
	if cfg.ClientAuth != tls.NoClientCert && c.ClientCAFile == "" {
		return nil, fmt.Errorf("tls: client_auth %s needs client_ca_file", c.ClientAuth)
	}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: client CA %s: no PEM certificate found", c.ClientCAFile)
		}
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// ListenTLS binds a TCP listener on address that terminates TLS as c says.
// The certificate and CA files are read once, here, so a bad file fails at
// start-up rather than at the first handshake. The handshake itself runs on
// the connection's first Read or Write, that is in the broker's connection
// goroutine, under its connect timeout.
func ListenTLS(address string, c TLSConfig) (net.Listener, error) {
	cfg, err := ServerConfig(c)
	if err != nil {
		return nil, err
	}
	l, err := Listen(address)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(l, cfg), nil
}

// PeerCommonName returns the subject common name of the verified client
// certificate of c, or "" when c is not a TLS connection, its handshake has
// not completed, or the client sent no certificate that verified. Only
// verified chains count: with client_auth "none" there are none.
func PeerCommonName(c net.Conn) string {
	tc, ok := c.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if !st.HandshakeComplete || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	return st.VerifiedChains[0][0].Subject.CommonName
}
