package devcerts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// File names written by Init inside its directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
	CRLFile        = "crl.pem"
)

// defaultServerHosts are the names the Init server certificate is valid for.
var defaultServerHosts = []string{"localhost", "127.0.0.1", "::1"}

// crlValidity is how long the empty CRL written by Init stays fresh.
const crlValidity = 365 * 24 * time.Hour

// clientNameRE limits client names because a name becomes both part of a
// file name and a certificate CommonName: no path separators, no spaces,
// nothing a shell or a log line would trip over.
var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Files lists the paths of a development PKI, whether Init wrote them in
// this run or found them already present.
type Files struct {
	Dir        string
	CACert     string
	CAKey      string
	ServerCert string
	ServerKey  string
	CRL        string
	// Clients maps a client name to its certificate and key.
	Clients map[string]ClientFiles
	// Created lists, sorted, the files written by this call; existing files
	// are never overwritten.
	Created []string
}

// ClientFiles are the certificate and key paths of one client.
type ClientFiles struct {
	Cert string
	Key  string
}

// ValidateClientName reports whether name can be used as a client name:
// 1 to 64 characters from [A-Za-z0-9._-], and not "." or "..".
func ValidateClientName(name string) error {
	if !clientNameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("devcerts: invalid client name %q: use 1 to 64 characters from A-Z a-z 0-9 . _ -", name)
	}
	return nil
}

// Init writes a development PKI into dir (created with mode 0700): ca.crt,
// ca.key, server.crt, server.key for localhost, 127.0.0.1 and ::1,
// client-NAME.crt and client-NAME.key per client (CommonName NAME), and
// crl.pem, an empty CRL valid for one year. Keys are mode 0600.
//
// Init is idempotent: an existing CA is reused and existing certificates,
// keys and CRL are kept. A half-present pair (a certificate without its key)
// is an error rather than something to overwrite. All names are validated
// before anything is written.
func Init(dir string, clients []string, opts ...Option) (Files, error) {
	for _, name := range clients {
		if err := ValidateClientName(name); err != nil {
			return Files{}, err
		}
	}
	if dir == "" {
		return Files{}, errors.New("devcerts: directory is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("devcerts: create directory: %w", err)
	}
	f := Files{
		Dir:        dir,
		CACert:     filepath.Join(dir, CACertFile),
		CAKey:      filepath.Join(dir, CAKeyFile),
		ServerCert: filepath.Join(dir, ServerCertFile),
		ServerKey:  filepath.Join(dir, ServerKeyFile),
		CRL:        filepath.Join(dir, CRLFile),
		Clients:    make(map[string]ClientFiles, len(clients)),
	}
	ca, err := f.loadOrCreateCA(opts)
	if err != nil {
		return Files{}, err
	}
	err = f.ensurePair(f.ServerCert, f.ServerKey, func() ([]byte, []byte, error) {
		return ca.IssueServer(defaultServerHosts, opts...)
	})
	if err != nil {
		return Files{}, err
	}
	for _, name := range clients {
		cf := ClientFiles{
			Cert: filepath.Join(dir, "client-"+name+".crt"),
			Key:  filepath.Join(dir, "client-"+name+".key"),
		}
		err := f.ensurePair(cf.Cert, cf.Key, func() ([]byte, []byte, error) {
			return ca.IssueClient(ClientOptions{CommonName: name})
		})
		if err != nil {
			return Files{}, err
		}
		f.Clients[name] = cf
	}
	if ok, err := exists(f.CRL); err != nil {
		return Files{}, err
	} else if !ok {
		crl, err := ca.CRL(nil, ca.now().Add(crlValidity))
		if err != nil {
			return Files{}, err
		}
		if err := f.create(f.CRL, crl, 0o644); err != nil {
			return Files{}, err
		}
	}
	sort.Strings(f.Created)
	return f, nil
}

func (f *Files) loadOrCreateCA(opts []Option) (*CA, error) {
	certOK, keyOK, err := pairExists(f.CACert, f.CAKey)
	if err != nil {
		return nil, err
	}
	if certOK && keyOK {
		return LoadCA(f.CACert, f.CAKey, opts...)
	}
	ca, err := NewCA("pgshield development CA", opts...)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	// Write the key first: a crash in between leaves a key without a
	// certificate, which the next run reports instead of silently using.
	if err := f.create(f.CAKey, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := f.create(f.CACert, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// ensurePair keeps an existing certificate/key pair or issues a new one.
func (f *Files) ensurePair(certPath, keyPath string, issue func() ([]byte, []byte, error)) error {
	certOK, keyOK, err := pairExists(certPath, keyPath)
	if err != nil || (certOK && keyOK) {
		return err
	}
	certPEM, keyPEM, err := issue()
	if err != nil {
		return err
	}
	if err := f.create(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return f.create(certPath, certPEM, 0o644)
}

func (f *Files) create(path string, data []byte, perm fs.FileMode) error {
	if err := writeNew(path, data, perm); err != nil {
		return err
	}
	f.Created = append(f.Created, path)
	return nil
}

// pairExists reports which of a certificate and key exist; exactly one
// existing is an error, because overwriting it could destroy a real key.
func pairExists(certPath, keyPath string) (certOK, keyOK bool, err error) {
	if certOK, err = exists(certPath); err != nil {
		return false, false, err
	}
	if keyOK, err = exists(keyPath); err != nil {
		return false, false, err
	}
	if certOK != keyOK {
		present, missing := certPath, keyPath
		if keyOK {
			present, missing = keyPath, certPath
		}
		return false, false, fmt.Errorf("devcerts: %s exists but %s does not; remove it or restore the pair", present, missing)
	}
	return certOK, keyOK, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("devcerts: %w", err)
	}
}

// writeNew writes data to path atomically and without replacing an existing
// file: it writes a temporary file in the same directory, syncs it, and
// hard-links it into place (link fails if path exists, rename would not).
func writeNew(path string, data []byte, perm fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("devcerts: %w", err)
	}
	defer func() {
		// The temporary name is always removed; on success path keeps the data.
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && err == nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = fmt.Errorf("devcerts: %w", rmErr)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("devcerts: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("devcerts: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("devcerts: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("devcerts: close %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("devcerts: %w", err)
	}
	return nil
}
