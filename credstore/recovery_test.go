package credstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplitCombineIdentityKey(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "node.key")
	key, _, err := LoadOrCreateIdentityKey(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	shareDir := filepath.Join(dir, "shares")
	paths, err := SplitIdentityKey(keyFile, shareDir, 5, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 5 || filepath.Base(paths[0]) != "share-1.pgshield-share" {
		t.Fatalf("paths = %v", paths)
	}
	for _, p := range paths {
		assertMode(t, p, 0o600)
	}
	tests := []struct {
		name   string
		shares []string
		want   string
	}{
		{"first three", paths[:3], ""},
		{"last three", paths[2:], ""},
		{"spread", []string{paths[4], paths[0], paths[2]}, ""},
		{"all five", paths, ""},
		{"two", paths[1:3], "need 3 shares, got 2"},
		{"duplicate", []string{paths[0], paths[0], paths[1]}, "both share 1"},
		{"missing file", []string{paths[0], paths[1], filepath.Join(dir, "nope")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, "restored", tt.name, "node.key")
			err := CombineIdentityKey(tt.shares, out)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
					t.Fatal("a failed restore wrote a key file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := LoadIdentityKey(out)
			if err != nil || !got.Equal(key) {
				t.Fatalf("restored key differs (err %v)", err)
			}
			assertMode(t, out, 0o600)
		})
	}
	t.Run("refuses to overwrite", func(t *testing.T) {
		if err := CombineIdentityKey(paths[:3], keyFile); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("err = %v", err)
		}
		if _, err := SplitIdentityKey(keyFile, shareDir, 5, 3, nil); err == nil {
			t.Fatal("SplitIdentityKey overwrote existing share files")
		}
	})
	t.Run("bad parameters", func(t *testing.T) {
		if _, err := SplitIdentityKey(keyFile, filepath.Join(dir, "x"), 2, 3, nil); err == nil {
			t.Fatal("threshold above shares accepted")
		}
		os.Chmod(keyFile, 0o644)
		defer os.Chmod(keyFile, 0o600)
		if _, err := SplitIdentityKey(keyFile, filepath.Join(dir, "y"), 5, 3, nil); err == nil || !strings.Contains(err.Error(), "has mode 0644") {
			t.Fatalf("loose key mode: err = %v", err)
		}
	})
}
