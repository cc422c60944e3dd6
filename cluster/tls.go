package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// RouteTLS makes the TLS configuration of the embedded NATS server's
// routes from PEM files: this node's certificate and key, and the CA that
// signed every node's certificate. Both ends of a route present and
// verify a certificate (the dialling node checks the other's against the
// address in its routes list, which must be in the certificate's names),
// so that a route carries stanzas and session records encrypted, and only
// between nodes holding a certificate of the cluster's CA.
func RouteTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: route TLS certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: route TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster: route TLS CA: no PEM certificate in %s", caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
