package credstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix returns the prefix of temp files for the file named base. They
// are dot files so directory listings stay tidy, and Open removes leftovers
// of a crash by this prefix.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// writeTemp writes data to a new 0600 temp file in dir, fsyncs and closes
// it, and returns its path. The caller renames or links it into place and
// removes it on failure.
func writeTemp(dir, base string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, tempPrefix(base)+"*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	// CreateTemp already uses 0600; Chmod makes that independent of it.
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// writeFileAtomic replaces path with data so that a crash at any point
// leaves either the old or the new file: temp file in the same directory,
// fsync, rename, fsync of the directory so the rename itself is durable.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, filepath.Base(path), data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// removeStaleTemps deletes temp files a crashed writer left next to path.
// Only the lock holder may call it, or it could delete a live writer's file.
func removeStaleTemps(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix(base)) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
