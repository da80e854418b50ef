package shamir

import (
	"fmt"
	"io"
)

// polynomial holds coefficients lowest degree first, so coefficients[0] is
// the secret byte (the value at x = 0).
type polynomial struct {
	coefficients []uint8
}

// makePolynomial returns a polynomial of the given degree with the given
// constant term and uniformly random other coefficients read from rand.
func makePolynomial(intercept uint8, degree int, rand io.Reader) (polynomial, error) {
	p := polynomial{coefficients: make([]uint8, degree+1)}
	if _, err := io.ReadFull(rand, p.coefficients[1:]); err != nil {
		return polynomial{}, fmt.Errorf("reading random coefficients: %w", err)
	}
	p.coefficients[0] = intercept
	return p, nil
}

// evaluate returns p(x) by Horner's rule.
func (p polynomial) evaluate(x uint8) uint8 {
	var out uint8
	for i := len(p.coefficients) - 1; i >= 0; i-- {
		out = add(mul(out, x), p.coefficients[i])
	}
	return out
}

// interpolateAt returns f(x) for the unique polynomial f of degree
// len(xs)-1 through the points (xs[i], ys[i]), by Lagrange's formula. The
// xs must be distinct; Combine checks that.
func interpolateAt(xs, ys []uint8, x uint8) uint8 {
	var result uint8
	for i := range xs {
		basis := uint8(1)
		for j := range xs {
			if i == j {
				continue
			}
			// (x - xs[j]) / (xs[i] - xs[j]); minus is XOR in GF(2^8).
			basis = mul(basis, div(add(x, xs[j]), add(xs[i], xs[j])))
		}
		result = add(result, mul(ys[i], basis))
	}
	return result
}
