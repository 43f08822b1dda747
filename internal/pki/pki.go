// Package pki makes the certificates Nimbus's hosts prove themselves with
// to each other: a CA the controller keeps, and certificates it signs for
// storage hosts (NBD servers) and compute hosts (their clients), so a
// volume's data crosses the network only between Nimbus's own hosts
// (docs/volumes.md: libvirt's NBD disks take x509 TLS, not PSK).
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA signs the hosts' certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte // the certificate, as peers are given it
}

// validity of every certificate: long, as the CA is private and hosts
// are re-issued by the controller, not by a renewal protocol.
const validity = 10 * 365 * 24 * time.Hour

// NewCA makes a CA named name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: name, Organization: []string{"Nimbus"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validity), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Role is what a certificate is for.
type Role int

const (
	Server Role = iota // a storage host's NBD server
	Client             // a compute host's NBD client (its libvirt)
)

// Issue signs a certificate for host (a name and, if it parses, an IP
// address) and returns it and its key, PEM-encoded.
func (ca *CA) Issue(host string, role Role) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	usage := x509.ExtKeyUsageServerAuth
	if role == Client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: host, Organization: []string{"Nimbus"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), nil
}

// WriteDir writes a certificate directory as QEMU's tls-creds-x509 (and
// libvirt's nbd_tls_x509_cert_dir) read it: ca-cert.pem and
// <role>-cert.pem, <role>-key.pem (the key readable by its owner only).
func (ca *CA) WriteDir(dir, host string, role Role) error {
	cert, key, err := ca.Issue(host, role)
	if err != nil {
		return err
	}
	prefix := map[Role]string{Server: "server", Client: "client"}[role]
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"ca-cert.pem": ca.PEM, prefix + "-cert.pem": cert} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, prefix+"-key.pem"), key, 0o600)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(fmt.Sprintf("pki: random serial: %v", err))
	}
	return n
}
