package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// lookBin finds a program on PATH or in /usr/sbin, where Debian installs
// pgbouncer and haproxy.
func lookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: run scripts/ensure-deps.sh pgbouncer haproxy", name)
}
