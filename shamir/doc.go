// Package shamir splits a secret into shares so that any threshold of them
// recovers it and fewer reveal nothing about it.
//
// It implements Shamir's secret sharing byte by byte over GF(2^8) with the
// AES reducing polynomial x^8+x^4+x^3+x+1 (0x11b), the same construction as
// HashiCorp Vault's: every secret byte is the constant term of its own random
// polynomial of degree threshold-1, and a share holds that polynomial's value
// at one non-zero x for every byte, followed by the x byte itself.
//
// Split and Combine work on raw shares. Raw Combine cannot tell that it was
// given too few shares (it just returns a wrong secret), so operators should
// use the share file format instead: EncodeShare/DecodeShare attach the
// threshold, the set size, a set ID and the SHA-256 of the secret, and
// CombineFiles refuses short or mixed sets and verifies the recovered secret.
//
// The package does no file I/O; splitting pgshield's identity key into files
// lives in package credstore, which owns the key format.
package shamir
