package tcp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a throw-away certificate authority with the files a TLS listener
// reads.
type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newCA(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf for cn; server leaves get 127.0.0.1 as IP SAN.
func (ca *pki) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	certPEM, keyPEM := ca.issuePEM(t, cn, server)
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (ca *pki) issuePEM(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture holds a CA, the server's files, and client certificates from the
// CA and from a stranger CA.
type fixture struct {
	ca, other  *pki
	dir        string
	certFile   string
	keyFile    string
	caFile     string
	goodClient tls.Certificate
	badClient  tls.Certificate
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ca: newCA(t, "test CA"), other: newCA(t, "other CA"), dir: t.TempDir()}
	certPEM, keyPEM := f.ca.issuePEM(t, "server", true)
	f.certFile = writeFile(t, f.dir, "server.pem", certPEM)
	f.keyFile = writeFile(t, f.dir, "server-key.pem", keyPEM)
	f.caFile = writeFile(t, f.dir, "ca.pem", f.ca.pem)
	f.goodClient = f.ca.issue(t, "device-42", false)
	f.badClient = f.other.issue(t, "intruder", false)
	return f
}

func (f *fixture) tlsConfig(clientAuth string) TLSConfig {
	return TLSConfig{CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: f.caFile, ClientAuth: clientAuth}
}

type serverResult struct {
	err error
	cn  string
}

// handshake runs one TLS connection through l: the server side handshakes
// and reports its error and the peer CN; the client side handshakes with
// cfg, then reads once so that a TLS 1.3 client sees the server's verdict on
// its certificate.
func handshake(t *testing.T, l net.Listener, cfg *tls.Config) (server serverResult, clientErr error) {
	t.Helper()
	res := make(chan serverResult, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			res <- serverResult{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		err = c.(*tls.Conn).Handshake()
		r := serverResult{err: err, cn: PeerCommonName(c)}
		if err == nil {
			_, r.err = c.Write([]byte{0x20}) // a byte for the client's read
		}
		res <- r
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), cfg)
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var b [1]byte
		_, err = io.ReadFull(c, b[:])
		c.Close()
	}
	return <-res, err
}

func (f *fixture) client(certs ...tls.Certificate) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(f.ca.cert)
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if len(certs) > 0 {
		// Present the certificate whatever CAs the server names: a Go client
		// would otherwise quietly send none that the server does not accept.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &certs[0], nil
		}
	}
	return cfg
}

func TestListenTLSClientAuth(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name       string
		clientAuth string
		certs      []tls.Certificate
		ok         bool
		cn         string
	}{
		{"require/good cert", "require", []tls.Certificate{f.goodClient}, true, "device-42"},
		{"require/no cert", "require", nil, false, ""},
		{"require/other CA", "require", []tls.Certificate{f.badClient}, false, ""},
		{"request/good cert", "request", []tls.Certificate{f.goodClient}, true, "device-42"},
		{"request/no cert", "request", nil, true, ""},
		{"request/other CA", "request", []tls.Certificate{f.badClient}, false, ""},
		{"none/no cert", "none", nil, true, ""},
		{"none/cert ignored", "", []tls.Certificate{f.goodClient}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ListenTLS("127.0.0.1:0", f.tlsConfig(tc.clientAuth))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			srv, cerr := handshake(t, l, f.client(tc.certs...))
			if tc.ok {
				if srv.err != nil || cerr != nil {
					t.Fatalf("handshake failed: server %v, client %v", srv.err, cerr)
				}
				if srv.cn != tc.cn {
					t.Fatalf("PeerCommonName = %q, want %q", srv.cn, tc.cn)
				}
				return
			}
			if srv.err == nil {
				t.Fatal("server accepted the handshake")
			}
			if cerr == nil {
				t.Fatal("client saw no error")
			}
		})
	}
}

func TestListenTLSMinVersion(t *testing.T) {
	f := newFixture(t)
	l, err := ListenTLS("127.0.0.1:0", f.tlsConfig("none"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := f.client()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	srv, cerr := handshake(t, l, cfg)
	if srv.err == nil || cerr == nil {
		t.Fatalf("TLS 1.1 accepted: server %v, client %v", srv.err, cerr)
	}
	cfg = f.client()
	cfg.MaxVersion = tls.VersionTLS12
	if srv, cerr := handshake(t, l, cfg); srv.err != nil || cerr != nil {
		t.Fatalf("TLS 1.2 refused: server %v, client %v", srv.err, cerr)
	}
}

func TestServerConfigErrors(t *testing.T) {
	f := newFixture(t)
	notPEM := writeFile(t, f.dir, "junk.pem", []byte("not a certificate\n"))
	cases := []struct {
		name string
		cfg  TLSConfig
		want string
	}{
		{"no cert", TLSConfig{KeyFile: f.keyFile}, "cert_file and key_file"},
		{"no key", TLSConfig{CertFile: f.certFile}, "cert_file and key_file"},
		{"missing cert file", TLSConfig{CertFile: filepath.Join(f.dir, "nope.pem"), KeyFile: f.keyFile}, "nope.pem"},
		{"key is not PEM", TLSConfig{CertFile: f.certFile, KeyFile: notPEM}, "junk.pem"},
		{"key does not match", TLSConfig{CertFile: f.certFile, KeyFile: writeFile(t, f.dir, "ca-as-key.pem", f.ca.pem)}, "load key pair"},
		{"bad client_auth", TLSConfig{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "always"}, `"always"`},
		{"require without CA", TLSConfig{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "require"}, "needs client_ca_file"},
		{"request without CA", TLSConfig{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "request"}, "needs client_ca_file"},
		{"missing CA file", TLSConfig{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "require", ClientCAFile: filepath.Join(f.dir, "ca-nope.pem")}, "ca-nope.pem"},
		{"CA file without PEM", TLSConfig{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "require", ClientCAFile: notPEM}, "no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ListenTLS("127.0.0.1:0", tc.cfg)
			if err == nil {
				l.Close()
				t.Fatal("ListenTLS succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	cfg, err := ServerConfig(f.tlsConfig("require"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil {
		t.Fatalf("unexpected config: min %x auth %v", cfg.MinVersion, cfg.ClientAuth)
	}
}

func TestListenPlain(t *testing.T) {
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		if PeerCommonName(c) != "" {
			t.Error("PeerCommonName of a plain conn is not empty")
		}
		_, err = io.Copy(c, c)
		done <- err
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("\x10\x0c\x00\x04MQTT")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(msg) {
		t.Fatalf("echo = %q", got)
	}
	c.(*net.TCPConn).CloseWrite()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The port is taken now: a second listener on it fails.
	if l2, err := Listen(l.Addr().String()); err == nil {
		l2.Close()
		t.Fatal("second Listen on a bound port succeeded")
	}
	if _, err := Listen("127.0.0.1:notaport"); err == nil {
		t.Fatal("Listen accepted a bad address")
	}
}
