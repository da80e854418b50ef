package harness

import (
	"os"
	"path/filepath"
	"time"

	"github.com/pgshield/pgshield/devcerts"
)

// pki is the one CA every target trusts, its server certificate (localhost,
// 127.0.0.1), an empty CRL and the client certificate of the benchmark's
// identity. Built on devcerts alone, so the harness does not depend on the
// proxy's packages compiling.
type pki struct {
	Dir, CAFile, ServerCert, ServerKey, CRLFile string
	ClientCert, ClientKey                       string
}

func newPKI(dir, client string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ca, err := devcerts.NewCA("pgshield bench CA")
	if err != nil {
		return nil, err
	}
	p := &pki{Dir: dir,
		CAFile:     filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"),
		ServerKey:  filepath.Join(dir, "server.key"),
		CRLFile:    filepath.Join(dir, "crl.pem"),
		ClientCert: filepath.Join(dir, "client-"+client+".crt"),
		ClientKey:  filepath.Join(dir, "client-"+client+".key"),
	}
	crl, err := ca.CRL(nil, time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	srvCert, srvKey, err := ca.IssueServer([]string{"localhost", "127.0.0.1", "::1"})
	if err != nil {
		return nil, err
	}
	cliCert, cliKey, err := ca.IssueClient(devcerts.ClientOptions{CommonName: client})
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{p.CAFile, ca.CertPEM(), 0o644}, {p.CRLFile, crl, 0o644},
		{p.ServerCert, srvCert, 0o644}, {p.ServerKey, srvKey, 0o600},
		{p.ClientCert, cliCert, 0o644}, {p.ClientKey, cliKey, 0o600},
	} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return p, nil
}
