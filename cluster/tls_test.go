package cluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/cluster"
	"github.com/mqttio/mqttio/cluster/clustertest"
	clusterpb "github.com/mqttio/mqttio/proto"
)

// testPKI writes a CA and a node certificate for 127.0.0.1 (server and
// client usage) and returns their paths.
func testPKI(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mqttio test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mqttio node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return write("ca.pem", "CERTIFICATE", caDER), write("node.pem", "CERTIFICATE", der), write("node.key", "EC PRIVATE KEY", keyDER)
}

// TestMutualTLS runs forwarding over gRPC with mTLS and gossip encryption,
// and checks that the gRPC port refuses clients without a certificate.
func TestMutualTLS(t *testing.T) {
	caFile, certFile, keyFile := testPKI(t)
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	c := clustertest.Start(t, 2, clustertest.Options{Cluster: func(cfg *cluster.Config) {
		cfg.TLS = cluster.TLSConfig{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, VerifyClients: true}
		cfg.GossipKey = key
	}})
	a, b := c.Node("n1"), c.Node("n2")
	s := a.Dial(t, "tls-sub", packet.V311)
	sub(t, s, 1, 0, filter("tls/#", 2))
	c.WaitRoute(a, route("tls/#", ""), true)
	pub := b.Dial(t, "tls-pub", packet.V311)
	pub.Publish("tls/1", 2, false, "secret", 1)
	expect(t, s, "tls/1", "secret")

	call := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient("passthrough:///"+a.Cluster.GRPCAddress(), grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cs, err := clusterpb.NewClusterClient(conn).Routes(ctx, &clusterpb.RoutesRequest{})
		if err == nil {
			_, err = cs.Recv()
		}
		return err
	}
	if err := call(insecure.NewCredentials()); err == nil {
		t.Error("plaintext client read the route table")
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(pem)
	if err := call(credentials.NewTLS(&tls.Config{RootCAs: pool})); err == nil {
		t.Error("client without a certificate read the route table")
	}
	cert, _ := tls.LoadX509KeyPair(certFile, keyFile)
	if err := call(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})); err != nil {
		t.Errorf("client with a certificate: %v", err)
	}
}

// TestJoinRetry starts a node whose seed is not up yet: it keeps trying
// until the seed appears, so nodes may start in any order.
func TestJoinRetry(t *testing.T) {
	// Reserve a gossip port for the seed, then free it for the seed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seedAddr := l.Addr().String()
	l.Close()

	c := clustertest.New(t, clustertest.Options{})
	late := c.StartNode("n2", func(cfg *cluster.Config) { cfg.Join = []string{seedAddr} })
	mqtttest.Eventually(t, "failed join attempts", func() bool { return late.Cluster.Stats().JoinFailures >= 3 })
	c.StartNode("n1", func(cfg *cluster.Config) {
		cfg.Bind = seedAddr
		cfg.Join = nil
	})
	c.WaitConverged()

	s := late.Dial(t, "j-sub", packet.V311)
	sub(t, s, 1, 0, filter("j", 0))
	c.WaitRoute(late, route("j", ""), true)
	pub := c.Node("n1").Dial(t, "j-pub", packet.V311)
	pub.Publish("j", 0, false, "found", 0)
	expect(t, s, "j", "found")
}
