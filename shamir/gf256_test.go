package shamir

import "testing"

// Known products in the AES field, from FIPS-197 §4.2 and the usual
// worked examples.
func TestMulVectors(t *testing.T) {
	tests := []struct{ a, b, want uint8 }{
		{0x57, 0x83, 0xc1}, // FIPS-197 §4.2
		{0x57, 0x13, 0xfe}, // FIPS-197 §4.2.1
		{0x57, 0x02, 0xae},
		{0x57, 0x04, 0x47},
		{0x57, 0x08, 0x8e},
		{0x57, 0x10, 0x07},
		{0x53, 0xca, 0x01}, // 0x53 and 0xca are inverses
		{0x80, 0x02, 0x1b}, // x^7·x = x^8 ≡ x^4+x^3+x+1
		{0x00, 0xff, 0x00},
		{0x01, 0xab, 0xab},
		{0xff, 0xff, 0x13},
	}
	for _, tt := range tests {
		if got := mul(tt.a, tt.b); got != tt.want {
			t.Errorf("mul(%#02x, %#02x) = %#02x, want %#02x", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestInvVectors(t *testing.T) {
	tests := []struct{ a, want uint8 }{
		{0x01, 0x01},
		{0x53, 0xca},
		{0xca, 0x53},
		{0x02, 0x8d},
		{0x03, 0xf6},
	}
	for _, tt := range tests {
		if got := inv(tt.a); got != tt.want {
			t.Errorf("inv(%#02x) = %#02x, want %#02x", tt.a, got, tt.want)
		}
	}
}

// TestMulMatchesReference checks mul against a slow, obviously correct
// carry-less multiply followed by polynomial reduction, for every pair.
func TestMulMatchesReference(t *testing.T) {
	ref := func(a, b uint8) uint8 {
		var p uint16
		for i := 0; i < 8; i++ {
			if b&(1<<i) != 0 {
				p ^= uint16(a) << i
			}
		}
		for i := 15; i >= 8; i-- {
			if p&(1<<i) != 0 {
				p ^= 0x11b << (i - 8)
			}
		}
		return uint8(p)
	}
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			if got, want := mul(uint8(a), uint8(b)), ref(uint8(a), uint8(b)); got != want {
				t.Fatalf("mul(%#02x, %#02x) = %#02x, reference says %#02x", a, b, got, want)
			}
		}
	}
}

func TestFieldProperties(t *testing.T) {
	for a := 0; a < 256; a++ {
		x := uint8(a)
		if mul(x, 1) != x || mul(x, 0) != 0 || add(x, x) != 0 {
			t.Fatalf("identity/zero law fails for %#02x", x)
		}
		if x != 0 {
			if got := mul(x, inv(x)); got != 1 {
				t.Fatalf("%#02x · inv(%#02x) = %#02x, want 1", x, x, got)
			}
			if div(x, x) != 1 {
				t.Fatalf("%#02x / itself != 1", x)
			}
		}
		for b := 0; b < 256; b++ {
			y := uint8(b)
			if mul(x, y) != mul(y, x) {
				t.Fatalf("mul not commutative for %#02x, %#02x", x, y)
			}
			// Associativity and distributivity over a stride of c keep the
			// triple loop to ~1M operations.
			for c := 0; c < 256; c += 17 {
				z := uint8(c)
				if mul(mul(x, y), z) != mul(x, mul(y, z)) {
					t.Fatalf("mul not associative for %#02x, %#02x, %#02x", x, y, z)
				}
				if mul(x, add(y, z)) != add(mul(x, y), mul(x, z)) {
					t.Fatalf("mul not distributive for %#02x, %#02x, %#02x", x, y, z)
				}
			}
		}
	}
}

func TestPolynomialEvaluateInterpolate(t *testing.T) {
	// p(x) = 0x2a + 0x03·x + 0x05·x^2
	p := polynomial{coefficients: []uint8{0x2a, 0x03, 0x05}}
	tests := []struct{ x, want uint8 }{
		{0, 0x2a},
		{1, 0x2a ^ 0x03 ^ 0x05},
		{2, 0x2a ^ mul(0x03, 2) ^ mul(0x05, mul(2, 2))},
	}
	for _, tt := range tests {
		if got := p.evaluate(tt.x); got != tt.want {
			t.Errorf("p(%d) = %#02x, want %#02x", tt.x, got, tt.want)
		}
	}
	xs := []uint8{7, 9, 200}
	ys := make([]uint8, len(xs))
	for i, x := range xs {
		ys[i] = p.evaluate(x)
	}
	for x := 0; x < 256; x++ {
		if got, want := interpolateAt(xs, ys, uint8(x)), p.evaluate(uint8(x)); got != want {
			t.Fatalf("interpolated f(%d) = %#02x, want %#02x", x, got, want)
		}
	}
}
