package credstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/nacl/box"
)

// Method names how the store file is encrypted; see the package comment.
type Method string

// The encryption methods. The zero Method means MethodHybrid.
const (
	MethodX25519 Method = "x25519"
	MethodHKDF   Method = "hkdf"
	MethodHybrid Method = "hybrid"
)

func (m Method) valid() bool {
	return m == MethodX25519 || m == MethodHKDF || m == MethodHybrid
}

// HKDF info strings: distinct per method so the hkdf and hybrid AES keys
// differ even under the same salt.
const (
	infoHKDF   = "pgshield credstore v1 hkdf"
	infoHybrid = "pgshield credstore v1 hybrid aes-256-gcm"
)

const (
	saltSize  = 32
	nonceSize = 12
)

// keySet holds the key material derived from one identity key. It is
// reached only through a pointer, so fmt never prints its bytes as part of
// an enclosing struct.
type keySet struct {
	// seed is a private copy of the Ed25519 seed, the HKDF input key.
	seed []byte
	// id is KeyID of the public key, in raw form.
	id [8]byte
	// boxPub and boxPriv are the X25519 key pair converted from the seed.
	boxPub, boxPriv [32]byte
}

func newKeySet(key ed25519.PrivateKey) (*keySet, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("identity key is not an Ed25519 private key")
	}
	k := &keySet{seed: append([]byte(nil), key.Seed()...)}
	sum := sha256.Sum256(key.Public().(ed25519.PublicKey))
	copy(k.id[:], sum[:8])
	// RFC 8032 §5.1.5: the Ed25519 secret scalar is the clamped low half of
	// SHA-512(seed); using it as the X25519 private key gives the
	// Montgomery form of the same key pair.
	h := sha512.Sum512(k.seed)
	copy(k.boxPriv[:], h[:32])
	clear(h[:])
	k.boxPriv[0] &= 248
	k.boxPriv[31] &= 127
	k.boxPriv[31] |= 64
	pub, err := curve25519.X25519(k.boxPriv[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("deriving X25519 key: %w", err)
	}
	copy(k.boxPub[:], pub)
	return k, nil
}

func (k *keySet) wipe() {
	clear(k.seed)
	clear(k.boxPriv[:])
}

func (k *keySet) aead(salt []byte, info string) (cipher.AEAD, error) {
	var aesKey [32]byte
	defer clear(aesKey[:])
	if _, err := io.ReadFull(hkdf.New(sha256.New, k.seed, salt, []byte(info)), aesKey[:]); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(aesKey[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext with method and returns the whole file.
func (k *keySet) seal(method Method, plaintext []byte, rnd io.Reader) ([]byte, error) {
	h := header{method: method, keyID: k.id}
	if method != MethodX25519 {
		h.salt = make([]byte, saltSize)
		h.nonce = make([]byte, nonceSize)
		if _, err := io.ReadFull(rnd, h.salt); err != nil {
			return nil, fmt.Errorf("reading random salt: %w", err)
		}
		if _, err := io.ReadFull(rnd, h.nonce); err != nil {
			return nil, fmt.Errorf("reading random nonce: %w", err)
		}
	}
	hdr := h.marshal()
	switch method {
	case MethodX25519:
		sum := sha256.Sum256(hdr)
		inner := append(sum[:], plaintext...)
		defer clear(inner)
		return box.SealAnonymous(hdr, inner, &k.boxPub, rnd)
	case MethodHKDF, MethodHybrid:
		info := infoHKDF
		if method == MethodHybrid {
			info = infoHybrid
		}
		aead, err := k.aead(h.salt, info)
		if err != nil {
			return nil, err
		}
		if method == MethodHKDF {
			return aead.Seal(hdr, h.nonce, plaintext, hdr), nil
		}
		inner := aead.Seal(nil, h.nonce, plaintext, hdr)
		return box.SealAnonymous(hdr, inner, &k.boxPub, rnd)
	}
	return nil, fmt.Errorf("unknown method %q", method)
}

// open authenticates and decrypts a whole store file. Errors are
// storeErrors for path.
func (k *keySet) open(path string, data []byte) ([]byte, Method, error) {
	h, body, err := parseHeader(data)
	if err != nil {
		return nil, "", err.withPath(path)
	}
	if subtle.ConstantTimeCompare(h.keyID[:], k.id[:]) != 1 {
		return nil, "", &storeError{path: path, kind: ErrWrongKey, detail: fmt.Sprintf(
			"was encrypted for a different identity key (store key id %s, this node's key id %s)",
			hex.EncodeToString(h.keyID[:]), hex.EncodeToString(k.id[:]))}
	}
	hdr := data[:len(data)-len(body)]
	corrupted := &storeError{path: path, kind: ErrCorrupted, detail: "is corrupted or was tampered with"}
	switch h.method {
	case MethodX25519:
		inner, ok := box.OpenAnonymous(nil, body, &k.boxPub, &k.boxPriv)
		if !ok || len(inner) < sha256.Size {
			return nil, "", corrupted
		}
		sum := sha256.Sum256(hdr)
		if subtle.ConstantTimeCompare(sum[:], inner[:sha256.Size]) != 1 {
			clear(inner)
			return nil, "", corrupted
		}
		return inner[sha256.Size:], h.method, nil
	case MethodHKDF, MethodHybrid:
		if len(h.salt) != saltSize || len(h.nonce) != nonceSize {
			return nil, "", corrupted
		}
		info := infoHKDF
		if h.method == MethodHybrid {
			info = infoHybrid
			inner, ok := box.OpenAnonymous(nil, body, &k.boxPub, &k.boxPriv)
			if !ok {
				return nil, "", corrupted
			}
			body = inner
		}
		aead, err := k.aead(h.salt, info)
		if err != nil {
			return nil, "", fmt.Errorf("credential store %s: %w", path, err)
		}
		plain, err := aead.Open(nil, h.nonce, body, hdr)
		if err != nil {
			return nil, "", corrupted
		}
		return plain, h.method, nil
	}
	// parseHeader admits only known methods.
	return nil, "", corrupted
}
