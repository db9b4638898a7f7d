package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

func (c TLSConfig) enabled() bool { return c.CertFile != "" }

func (c TLSConfig) validate() error {
	switch {
	case !c.enabled() && (c.KeyFile != "" || c.CAFile != "" || c.VerifyClients):
		return errors.New("cluster: tls: cert_file is required when key_file, ca_file or verify_clients is set")
	case c.enabled() && c.KeyFile == "":
		return errors.New("cluster: tls: key_file is required with cert_file")
	case c.VerifyClients && c.CAFile == "":
		return errors.New("cluster: tls: verify_clients needs ca_file")
	}
	return nil
}

// credentials loads the files and returns the gRPC transport credentials
// of the server and of the clients; insecure ones when TLS is off.
func (c TLSConfig) credentials() (server, client credentials.TransportCredentials, err error) {
	if !c.enabled() {
		return insecure.NewCredentials(), insecure.NewCredentials(), nil
	}
	srv, cli, err := c.tlsConfigs()
	if err != nil {
		return nil, nil, err
	}
	return credentials.NewTLS(srv), credentials.NewTLS(cli), nil
}

// tlsConfigs loads the files and returns the server and client TLS
// configurations, used by gRPC and by the Raft transport alike.
func (c TLSConfig) tlsConfigs() (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: tls: %v", err)
	}
	var pool *x509.CertPool
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: tls: ca_file: %v", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("cluster: tls: ca_file %s: no PEM certificates", c.CAFile)
		}
	}
	srv := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if c.VerifyClients {
		srv.ClientAuth = tls.RequireAndVerifyClientCert
		srv.ClientCAs = pool
	}
	cli := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool, // nil: the system roots
		ServerName:   c.ServerName,
	}
	return srv, cli, nil
}
