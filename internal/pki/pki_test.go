package pki_test

import (
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/pki"
)

// TestIssue: a host's certificate verifies against its CA for its role
// only, and against no other CA.
func TestIssue(t *testing.T) {
	ca, err := pki.NewCA("nimbus")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := pki.NewCA("other")
	parse := func(b []byte) *x509.Certificate {
		blk, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pool := func(c *pki.CA) *x509.CertPool { p := x509.NewCertPool(); p.AddCert(c.Cert); return p }
	server, _, err := ca.Issue("10.0.0.5", pki.Server)
	if err != nil {
		t.Fatal(err)
	}
	s := parse(server)
	if _, err := s.Verify(x509.VerifyOptions{Roots: pool(ca), DNSName: "10.0.0.5", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server certificate as a server: %v", err)
	}
	if _, err := s.Verify(x509.VerifyOptions{Roots: pool(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("a server certificate passes as a client's")
	}
	if _, err := s.Verify(x509.VerifyOptions{Roots: pool(other)}); err == nil {
		t.Error("verified against another CA")
	}
	client, _, _ := ca.Issue("compute-1", pki.Client)
	if _, err := parse(client).Verify(x509.VerifyOptions{Roots: pool(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate as a client: %v", err)
	}
}
