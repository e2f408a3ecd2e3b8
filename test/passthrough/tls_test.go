package passthrough

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/config"
	"github.com/luaproxy/luaproxy/internal/redistest"
	"github.com/luaproxy/luaproxy/test/harness"
)

// tlsFiles writes a CA and a server certificate for 127.0.0.1 signed by
// it, and returns their paths.
type tlsFiles struct{ ca, cert, key string }

func writeTLSFiles(t *testing.T, dir string) tlsFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "luaproxy test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	f := tlsFiles{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "server.pem"), key: filepath.Join(dir, "server.key")}
	for path, block := range map[string]*pem.Block{
		f.ca: {Type: "CERTIFICATE", Bytes: caDER}, f.cert: {Type: "CERTIFICATE", Bytes: srvDER}, f.key: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// startTLS starts luaproxy in front of an upstream that also listens with
// TLS, reaching it through rediss://.
func startTLS(t *testing.T, files tlsFiles, configure func(*config.Config)) *harness.Harness {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return harness.Start(t,
		harness.WithUpstreamArgs("--tls-port", strconv.Itoa(port), "--tls-cert-file", files.cert,
			"--tls-key-file", files.key, "--tls-ca-cert-file", files.ca, "--tls-auth-clients", "no"),
		harness.WithUpstreamURL(func(string) string { return "rediss://" + tlsAddr }),
		harness.WithConfig(configure))
}

// TestTLSUpstream passes traffic to a rediss:// upstream verified with a
// CA file, and refuses an upstream that the CA did not sign.
func TestTLSUpstream(t *testing.T) {
	files := writeTLSFiles(t, t.TempDir())
	h := startTLS(t, files, func(c *config.Config) { c.UpstreamTLSCAFile = files.ca })
	h.Run(t, scenario{Name: "over TLS", Steps: []step{
		cmd("SET", "k", "v"), cmd("GET", "k"), {Cmd: []string{"HELLO", "3"}, Norm: harness.HelloID}, cmd("HGETALL", "nope"),
		cmd("SUBSCRIBE", "c"), on(1, "PUBLISH", "c", "m"), {Read: 1},
	}})
	if code := httpStatus(t, h.AdminURL+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}

	t.Run("insecure", func(t *testing.T) {
		h := startTLS(t, files, func(c *config.Config) { c.UpstreamTLSInsecure = true })
		if got := h.DialProxy(t).MustDo(t, "PING"); string(got) != "+PONG\r\n" {
			t.Errorf("PING = %q", got)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		other := writeTLSFiles(t, t.TempDir())
		h := startTLS(t, files, func(c *config.Config) { c.UpstreamTLSCAFile = other.ca })
		got := h.DialProxy(t).MustDo(t, "PING")
		if !bytes.HasPrefix(got, []byte("-ERR upstream unavailable")) {
			t.Errorf("PING with an untrusted upstream = %q", got)
		}
		if code := httpStatus(t, h.AdminURL+"/readyz"); code != 503 {
			t.Errorf("/readyz = %d, want 503", code)
		}
	})
}
