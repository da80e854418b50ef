package credstore

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateIdentityKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "node.key")
	key, created, err := LoadOrCreateIdentityKey(path, nil)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	assertMode(t, path, 0o600)
	assertMode(t, filepath.Dir(path), 0o700|os.ModeDir)
	again, created, err := LoadOrCreateIdentityKey(path, nil)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	if !key.Equal(again) {
		t.Fatal("reloaded key differs from the created one")
	}
	if err := WriteIdentityKey(path, key); err == nil {
		t.Fatal("WriteIdentityKey overwrote an existing key")
	}
}

func TestLoadOrCreateIdentityKeyRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	const n = 4
	keys := make([]ed25519.PrivateKey, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], created[i], errs[i] = LoadOrCreateIdentityKey(path, nil) })
	}
	wg.Wait()
	nCreated := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if !keys[i].Equal(keys[0]) {
			t.Fatalf("goroutine %d got a different key", i)
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Fatalf("%d goroutines report creating the key, want 1", nCreated)
	}
}

func TestLoadIdentityKeyRefusesLooseModes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	if _, _, err := LoadOrCreateIdentityKey(path, nil); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602, 0o620, 0o700 | 0o007} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadIdentityKey(path)
		want := "identity key " + path + " has mode " + octal(mode) + "; want 0600 (chmod 600 it)"
		if err == nil || err.Error() != want {
			t.Errorf("mode %04o: err = %v, want %q", mode, err, want)
		}
		if _, _, err := LoadOrCreateIdentityKey(path, nil); err == nil {
			t.Errorf("mode %04o: LoadOrCreateIdentityKey accepted the key", mode)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(path, mode)
		if _, err := LoadIdentityKey(path); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
}

func octal(m os.FileMode) string {
	const digits = "01234567"
	p := uint32(m.Perm())
	return string([]byte{'0', digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

func TestLoadIdentityKeyRefusesMalformed(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	good := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no PEM block"},
		{"garbage", []byte("not a key at all"), "no PEM block"},
		{"wrong type", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: edDER}), `want "PRIVATE KEY"`},
		{"headers", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: edDER}), "headers"},
		{"truncated DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER[:20]}), "not a PKCS#8"},
		{"ECDSA", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "want Ed25519"},
		{"trailing data", append(append([]byte(nil), good...), "junk"...), "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.key")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadIdentityKey(path)
			if err == nil || !strings.Contains(err.Error(), "identity key "+path+" is malformed: "+tt.want) &&
				!strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "MC4CAQ") {
				t.Fatalf("error is multi-line or quotes the key: %q", err)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "node.key")
		os.WriteFile(path, append(good, "\n\n"...), 0o600)
		if k, err := LoadIdentityKey(path); err != nil || !k.Equal(edKey) {
			t.Fatalf("err = %v", err)
		}
	})
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != want {
		t.Fatalf("%s has mode %v, want %v", path, got, want)
	}
}
