package auth

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
)

// channelBindingTypes lists the channel-binding types usable on cs, the
// stronger first (XEP-0440 §5: servers MUST offer tls-server-end-point;
// tls-exporter is stronger, XEP-0440 §7).
func channelBindingTypes(cs ConnState) []string {
	if cs.TLS == nil || !cs.TLS.HandshakeComplete {
		return nil
	}
	var out []string
	if exporterUsable(cs.TLS) {
		out = append(out, CBTLSExporter)
	}
	if _, err := endPointHash(cs.ServerCert); err == nil {
		out = append(out, CBTLSServerEndPoint)
	}
	return out
}

// usableCBTypes is cs.CBTypes when the caller filled it in (from
// ChannelBindingTypes, see ConnState), else channelBindingTypes(cs).
// Deriving them costs a TLS exporter (HKDF) and a login asks for the
// mechanisms several times: stream features, SASL2's and FAST's, Start.
func usableCBTypes(cs ConnState) []string {
	if cs.CBTypes != nil {
		return cs.CBTypes
	}
	return channelBindingTypes(cs)
}

// exporterUsable reports whether tls-exporter is safe on the connection.
// RFC 9266 §3: TLS 1.3, or TLS 1.2 only with the extended master secret
// (RFC 7627), else the exported value is not unique to the connection
// (triple handshake). crypto/tls does not expose whether EMS was
// negotiated, but its ExportKeyingMaterial refuses TLS 1.2 without EMS
// unless GODEBUG=tlsunsafeekm=1; when that setting is present anywhere we
// do not trust TLS 1.2 exporters at all.
func exporterUsable(st *tls.ConnectionState) bool {
	switch {
	case st.Version >= tls.VersionTLS13:
	case st.Version == tls.VersionTLS12 && !unsafeEKM():
	default:
		return false
	}
	_, err := exportKeyingMaterial(st)
	return err == nil
}

var unsafeEKM = sync.OnceValue(func() bool {
	if strings.Contains(os.Getenv("GODEBUG"), "tlsunsafeekm=1") {
		return true
	}
	// //go:debug directives and go.mod godebug lines end up here.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "DefaultGODEBUG" && strings.Contains(s.Value, "tlsunsafeekm=1") {
				return true
			}
		}
	}
	return false
})

// exportKeyingMaterial computes the tls-exporter data (RFC 9266 §2: label
// "EXPORTER-Channel-Binding", no context, 32 bytes). A ConnectionState not
// made by crypto/tls (e.g. in a test) has no exporter and would make
// ExportKeyingMaterial panic on a nil func; that is turned into an error.
func exportKeyingMaterial(st *tls.ConnectionState) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("tls-exporter: connection state has no exporter: %v", r)
		}
	}()
	b, err = st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		return nil, fmt.Errorf("tls-exporter: %w", err)
	}
	return b, nil
}

// endPointHash picks the tls-server-end-point hash for a DER certificate
// (RFC 5929 §4.1): the hash of the certificate's signature algorithm, but
// SHA-256 when that is MD5 or SHA-1. Algorithms without a single hash
// (Ed25519, unknown ones) leave the binding undefined, so it is not offered.
//
// It runs several times per login (features, SASL, SASL2, FAST), so the
// usual algorithms are read straight from the DER (signatureAlgorithm, the
// second field of the Certificate SEQUENCE, RFC 5280 §4.1.1.2): a full
// x509.ParseCertificate was 5% of the server's CPU in a login burst. Any
// other algorithm (RSA-PSS keeps its hash in the parameters), or DER this
// reader does not follow, goes to x509.
func endPointHash(der []byte) (crypto.Hash, error) {
	if len(der) == 0 {
		return 0, errors.New("tls-server-end-point: no server certificate")
	}
	if h, ok := endPointHashFast(der); ok {
		return h, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return 0, fmt.Errorf("tls-server-end-point: %w", err)
	}
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		return crypto.SHA256, nil
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		return crypto.SHA384, nil
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("tls-server-end-point: undefined for signature algorithm %v", cert.SignatureAlgorithm)
}

// The DER contents of the signature algorithm OIDs endPointHashFast knows
// (RFC 4055 §5, RFC 5758 §3.2) and the tls-server-end-point hash of each.
var endPointOIDs = []struct {
	oid  string
	hash crypto.Hash
}{
	{"\x2a\x86\x48\xce\x3d\x04\x03\x02", crypto.SHA256},     // ecdsa-with-SHA256
	{"\x2a\x86\x48\xce\x3d\x04\x03\x03", crypto.SHA384},     // ecdsa-with-SHA384
	{"\x2a\x86\x48\xce\x3d\x04\x03\x04", crypto.SHA512},     // ecdsa-with-SHA512
	{"\x2a\x86\x48\xce\x3d\x04\x01", crypto.SHA256},         // ecdsa-with-SHA1
	{"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b", crypto.SHA256}, // sha256WithRSAEncryption
	{"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c", crypto.SHA384}, // sha384WithRSAEncryption
	{"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d", crypto.SHA512}, // sha512WithRSAEncryption
	{"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05", crypto.SHA256}, // sha1WithRSAEncryption
	{"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x04", crypto.SHA256}, // md5WithRSAEncryption
}

// endPointHashFast reads the certificate's signatureAlgorithm OID without
// parsing the rest; ok is false for anything it does not know.
func endPointHashFast(der []byte) (crypto.Hash, bool) {
	cert, rest, ok := derField(der, 0x30) // Certificate
	if !ok || len(rest) != 0 {
		return 0, false
	}
	if _, cert, ok = derField(cert, 0x30); !ok { // tbsCertificate
		return 0, false
	}
	alg, _, ok := derField(cert, 0x30) // signatureAlgorithm
	if !ok {
		return 0, false
	}
	oid, _, ok := derField(alg, 0x06)
	if !ok {
		return 0, false
	}
	for _, o := range endPointOIDs {
		if string(oid) == o.oid {
			return o.hash, true
		}
	}
	return 0, false
}

// derField reads one DER element with the given tag from b: its contents
// and what follows it. Definite lengths only, as DER requires.
func derField(b []byte, tag byte) (contents, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, b := int(b[1]), b[2:]
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < k {
			return nil, nil, false
		}
		n = 0
		for _, c := range b[:k] {
			n = n<<8 | int(c)
		}
		b = b[k:]
	}
	if n > len(b) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

// channelBindingData returns the channel-binding data of type name on cs.
func channelBindingData(cs ConnState, name string) ([]byte, error) {
	if cs.TLS == nil {
		return nil, errors.New("channel binding without TLS")
	}
	switch name {
	case CBTLSExporter:
		if !exporterUsable(cs.TLS) {
			return nil, errors.New("tls-exporter: not safe on this connection")
		}
		return exportKeyingMaterial(cs.TLS)
	case CBTLSServerEndPoint:
		h, err := endPointHash(cs.ServerCert)
		if err != nil {
			return nil, err
		}
		hh := h.New()
		hh.Write(cs.ServerCert)
		return hh.Sum(nil), nil
	}
	return nil, fmt.Errorf("unsupported channel binding type %s", quote(name))
}
