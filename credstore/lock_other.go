//go:build !unix

package credstore

import (
	"errors"
	"os"
)

// lockFile is unsupported off Unix; failing closed beats two writers.
func lockFile(path string) (*os.File, error) {
	return nil, errors.New("credential store locking is only supported on Unix")
}
