package proxy

import (
	"bytes"
	"testing"
)

// TestCancelRegistryUnregister: a session's key stops matching once it is
// withdrawn, withdrawing twice is harmless, and a late second withdrawal
// never removes another session that was since issued the same pid.
func TestCancelRegistryUnregister(t *testing.T) {
	draw := []byte{0, 0, 0, 42, 1, 2, 3, 4}
	r := newCancelRegistry(bytes.NewReader(bytes.Repeat(draw, 2))) // the same pid twice
	first, second, never := &session{}, &session{}, &session{}

	k1, err := r.register(first)
	if err != nil {
		t.Fatal(err)
	}
	if first.key != k1 || r.lookup(k1.pid, k1.secret[:]) != first {
		t.Fatalf("registered key %+v does not find its session (s.key %+v)", k1, first.key)
	}
	r.unregister(first)
	if r.lookup(k1.pid, k1.secret[:]) != nil {
		t.Fatal("a withdrawn key still matches")
	}
	k2, err := r.register(second)
	if err != nil {
		t.Fatal(err)
	}
	if k2.pid != k1.pid {
		t.Fatalf("test setup: pid %d, want the reused %d", k2.pid, k1.pid)
	}
	r.unregister(first) // late, after the pid was issued again
	r.unregister(never) // a session that never had a key
	if r.lookup(k2.pid, k2.secret[:]) != second {
		t.Fatal("withdrawing an old session's key removed the session now holding that pid")
	}
}
