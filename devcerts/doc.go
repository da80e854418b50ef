// Package devcerts creates a small development and test PKI: a CA, server
// and client certificates, and CRLs, all ECDSA P-256.
//
// Its one job is to make TLS client-certificate setups easy to try out and
// to test against (including certificates that are expired, not yet valid or
// revoked). It is not meant for production key management: keys are written
// unencrypted (mode 0600) next to the certificates.
//
// The CLI command `pgshield certs init --dir DIR --client NAME` is a thin
// wrapper over Init.
package devcerts
