// Package credstore keeps pgshield's backend credentials encrypted at rest
// under a key derived from the node's Ed25519 identity key.
//
// The identity key (LoadOrCreateIdentityKey) is a PKCS#8 PEM file ("PRIVATE
// KEY", readable by `openssl pkey`), mode 0600 in a 0700 directory; a key
// file that group or others can read or write is refused.
//
// The store (Open) is one file holding every credential, written atomically
// (temp file, fsync, rename, fsync of the directory) and guarded by an
// exclusive flock on "<path>.lock" so that two processes never write it.
// Its layout, all integers big-endian:
//
//	magic      8 bytes  "PGSHSTOR"
//	version    1 byte   1
//	method     1-byte length + "x25519" | "hkdf" | "hybrid"
//	key id     8 bytes  first 8 bytes of SHA-256(Ed25519 public key)
//	salt       1-byte length + HKDF salt (empty for x25519)
//	nonce      1-byte length + AES-GCM nonce (empty for x25519)
//	body       the rest: ciphertext
//
// Everything before the body is "the header". The methods:
//
//   - x25519: NaCl anonymous box (X25519, XSalsa20-Poly1305) sealed to the
//     node's own X25519 key, converted from the Ed25519 seed as RFC 8032
//     does (SHA-512, clamped); every write uses a fresh ephemeral key and
//     nonce. The box carries SHA-256(header) before the JSON, so the header
//     is authenticated too.
//   - hkdf: AES-256-GCM under HKDF-SHA256(seed, per-file random salt,
//     "pgshield credstore v1 hkdf") with a random 12-byte nonce and the
//     header as additional data.
//   - hybrid (the default): AES-256-GCM as in hkdf but with its own HKDF info
//     string, then sealed in an x25519 box; either layer alone protects the
//     plaintext.
//
// The key id tells "another node's store" apart from "corrupted store": a
// mismatch fails with ErrWrongKey, a failed authentication with
// ErrCorrupted. The file records its method, so a store is read whatever
// Options.Method says and rewritten in Options.Method at the next Update.
//
// The plaintext is JSON (see fileState). Passwords never leave this package
// except through Credential.Password; every type holding one redacts it in
// all fmt verbs.
//
// SplitIdentityKey and CombineIdentityKey back the identity key up as
// Shamir shares (package shamir); they live here because this package owns
// the key file format.
package credstore
