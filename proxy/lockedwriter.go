package proxy

import (
	"io"
	"sync"
)

// lockedWriter serializes writes to the backend: the client pump writes
// client traffic, and the backend reader may write a Sync of its own after
// pgshield's injected statement fails.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
