package exporter

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
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// writeWebConfig writes a self-signed certificate for 127.0.0.1, its key,
// and a web configuration enabling TLS and one basic-auth user; it returns
// the configuration's path and a pool trusting the certificate.
func writeWebConfig(t *testing.T, user, password string) (string, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "backlogctl test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Relative paths are relative to the configuration file, as in the toolkit.
	write("web.yml", []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  "+user+": "+string(hash)+"\n"))
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return filepath.Join(dir, "web.yml"), pool
}

// --web.config.file turns on TLS and basic auth, as node_exporter's does:
// plain HTTP is refused, a wrong or missing password is 401, the right one
// scrapes; the start line says https.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	path, pool := writeWebConfig(t, "prometheus", "s3cret")
	o := newOpts()
	o.NoProcesses = true
	o.WebConfigFile = path
	if err := o.Validate(); err != nil {
		t.Fatalf("a valid web config refused: %v", err)
	}
	stderr := o.IO.ErrOut.(interface{ String() string })
	addr, stop := startExporter(o)
	defer stop()
	if line := stderr.String(); !strings.Contains(line, "serving https://"+addr+"/metrics (TLS, basic auth)") {
		t.Errorf("start line %q does not say https with basic auth", line)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(scheme, user, pass, path string) int {
		req, _ := http.NewRequest("GET", scheme+"://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s://%s: %v", scheme, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("http", "", "", "/metrics"); code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the TLS port: %d, want 400", code)
	}
	for _, c := range []struct {
		user, pass, path string
		want             int
	}{
		{"", "", "/metrics", 401},
		{"prometheus", "wrong", "/metrics", 401},
		{"nobody", "s3cret", "/metrics", 401},
		{"prometheus", "s3cret", "/metrics", 200},
		{"", "", "/healthz", 401},
		{"prometheus", "s3cret", "/healthz", 200},
	} {
		if got := get("https", c.user, c.pass, c.path); got != c.want {
			t.Errorf("https %s as %q/%q: %d, want %d", c.path, c.user, c.pass, got, c.want)
		}
	}
}

// A web config that the toolkit would refuse is a usage error before
// anything is bound, in one line naming the file.
func TestWebConfigRefused(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, path := range map[string]string{
		"missing":          filepath.Join(dir, "absent.yml"),
		"unknown field":    write("unknown.yml", "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\nbogus: 1\n"),
		"not bcrypt":       write("plain.yml", "basic_auth_users:\n  prometheus: s3cret\n"),
		"missing key":      write("nokey.yml", "tls_server_config:\n  cert_file: c.pem\n"),
		"certificate gone": write("nocert.yml", "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"),
		// A link to a secret file: its lines are unknown keys.
		"secret file": write("shadow.yml", "root:$6$SALTSALT$HASHOFROOT:20228:0:99999:7:::\nalice:$6$OTHERSALT$HASHOFALICE:20228:0:99999:7:::\n"),
	} {
		t.Run(name, func(t *testing.T) {
			o := newOpts()
			o.WebConfigFile = path
			err := o.Validate()
			if cmdutil.ExitCode(err) != cmdutil.ExitUsage {
				t.Fatalf("exit %d (%v), want %d", cmdutil.ExitCode(err), err, cmdutil.ExitUsage)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "--web.config.file "+path) {
				t.Errorf("error %q: want one line naming --web.config.file %s", msg, path)
			}
			if msg := err.Error(); strings.Contains(msg, "HASHOF") || strings.Contains(msg, "alice") {
				t.Errorf("error %q quotes the file's contents", msg)
			}
		})
	}
}
