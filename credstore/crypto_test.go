package credstore

import (
	"crypto/ed25519"
	"math/big"
	"slices"
	"testing"
)

// TestX25519MatchesBirationalMap checks the derived X25519 public key
// against the Edwards→Montgomery map u = (1+y)/(1-y) mod 2^255-19 applied to
// the Ed25519 public key: the two derivations must agree, and both must be
// deterministic.
func TestX25519MatchesBirationalMap(t *testing.T) {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	for range 8 {
		key := newKey(t)
		k, err := newKeySet(key)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := newKeySet(key)
		if again.boxPub != k.boxPub || again.id != k.id {
			t.Fatal("key derivation is not deterministic")
		}
		pub := slices.Clone(key.Public().(ed25519.PublicKey))
		pub[31] &= 0x7f // drop the sign bit of x
		slices.Reverse(pub)
		y := new(big.Int).SetBytes(pub)
		num := new(big.Int).Add(big.NewInt(1), y)
		den := new(big.Int).Sub(big.NewInt(1), y)
		den.Mod(den, p)
		u := num.Mul(num, den.ModInverse(den, p))
		u.Mod(u, p)
		want := make([]byte, 32)
		u.FillBytes(want)
		slices.Reverse(want)
		if string(want) != string(k.boxPub[:]) {
			t.Fatalf("X25519 public key %x, birational map gives %x", k.boxPub, want)
		}
	}
}
