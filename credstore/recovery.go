package credstore

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pgshield/pgshield/shamir"
)

// ShareFileSuffix ends every share file name: share-1.pgshield-share, ...
const ShareFileSuffix = ".pgshield-share"

// maxShareFileSize bounds how much of a share file is read.
const maxShareFileSize = 64 << 10

// SplitIdentityKey splits the identity key at keyFile into shares share
// files in outDir (created 0700), any threshold of which restore it through
// CombineIdentityKey. It splits the 32-byte Ed25519 seed and returns the
// file paths, share-1.pgshield-share and so on, each mode 0600. It refuses
// to overwrite existing share files. rnd nil means crypto/rand.
func SplitIdentityKey(keyFile, outDir string, shares, threshold int, rnd io.Reader) ([]string, error) {
	key, err := LoadIdentityKey(keyFile)
	if err != nil {
		return nil, err
	}
	seed := key.Seed()
	defer clear(seed)
	defer clear(key)
	files, err := shamir.SplitFiles(seed, shares, threshold, rnd)
	if err != nil {
		return nil, fmt.Errorf("splitting identity key: %w", err)
	}
	defer func() {
		for _, f := range files {
			clear(f)
		}
	}()
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return nil, fmt.Errorf("splitting identity key: %w", err)
	}
	paths := make([]string, 0, len(files))
	for i, data := range files {
		p := filepath.Join(outDir, "share-"+strconv.Itoa(i+1)+ShareFileSuffix)
		if err := writeNewFile(p, data); err != nil {
			// Leave no partial set behind: it would look usable.
			for _, done := range paths {
				os.Remove(done)
			}
			return nil, fmt.Errorf("splitting identity key: %w", err)
		}
		paths = append(paths, p)
	}
	if err := syncDir(outDir); err != nil {
		return nil, fmt.Errorf("splitting identity key: %w", err)
	}
	return paths, nil
}

// writeNewFile creates path with mode 0600, failing if it exists.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// CombineIdentityKey restores an identity key from share files made by
// SplitIdentityKey and writes it to outKeyFile (mode 0600, directory 0700).
// It needs at least the split's threshold of shares, verifies the result
// against the checksum in the shares, and never overwrites an existing key
// file.
func CombineIdentityKey(shareFiles []string, outKeyFile string) error {
	datas := make([][]byte, len(shareFiles))
	defer func() {
		for _, d := range datas {
			clear(d)
		}
	}()
	for i, p := range shareFiles {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("restoring identity key: %w", err)
		}
		datas[i], err = io.ReadAll(io.LimitReader(f, maxShareFileSize))
		f.Close()
		if err != nil {
			return fmt.Errorf("restoring identity key: reading %s: %w", p, err)
		}
	}
	seed, err := shamir.CombineFiles(datas...)
	if err != nil {
		return fmt.Errorf("restoring identity key: %w", err)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return errors.New("restoring identity key: the shares hold a secret that is not an Ed25519 seed")
	}
	key := ed25519.NewKeyFromSeed(seed)
	defer clear(key)
	return WriteIdentityKey(outKeyFile, key)
}
