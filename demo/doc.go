// Package demo runs pgshield on an embedded default: an ephemeral
// PostgreSQL cluster it starts itself (SCRAM only, unix socket only), a
// login role with a generated password, development certificates for the
// identities app and analyst, a generated config, and the proxy in front.
// Once the proxy accepts connections it writes demo.env, the file of shell
// variables that scripts (and the README) use to connect; every variable is
// documented in README.md.
package demo
