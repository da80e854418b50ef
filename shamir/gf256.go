package shamir

// The field operations below avoid data-dependent branches and table
// look-ups: shares and secrets pass through them, and log/exp tables would
// leak indexes through the cache.

// add returns a+b in GF(2^8); addition is XOR, and so is subtraction.
func add(a, b uint8) uint8 { return a ^ b }

// mul returns a·b in GF(2^8) modulo x^8+x^4+x^3+x+1, by shift-and-add
// ("Russian peasant") multiplication with masks instead of branches.
func mul(a, b uint8) uint8 {
	var p uint8
	for i := 0; i < 8; i++ {
		// mask is 0xff when the low bit of b is set, else 0.
		p ^= a & -(b & 1)
		// Reduce by 0x1b when the shift carries out of bit 7.
		carry := -(a >> 7)
		a = (a << 1) ^ (0x1b & carry)
		b >>= 1
	}
	return p
}

// inv returns the multiplicative inverse of a, using a^254 = a^-1 (the
// multiplicative group has order 255). inv(0) is 0, which callers never rely
// on: Combine rejects zero x coordinates and duplicate ones.
func inv(a uint8) uint8 {
	// Square-and-multiply over the fixed exponent 254 = 0b11111110.
	result := uint8(1)
	base := a
	for e := 254; e > 0; e >>= 1 {
		if e&1 == 1 {
			result = mul(result, base)
		}
		base = mul(base, base)
	}
	return result
}

// div returns a/b; b must be non-zero.
func div(a, b uint8) uint8 { return mul(a, inv(b)) }
