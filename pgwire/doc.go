// Package pgwire frames PostgreSQL protocol messages for the proxy: it reads
// the pre-TLS startup packets with PostgreSQL's bounds, and forwards backend
// messages to the client whole and in bulk, decoding only the message types
// the caller watches. Row data passes from the read buffer straight to the
// client's writer without being decoded or copied into messages. Error is
// the ErrorResponse pgshield writes itself, for the proxy and the admin
// console alike.
package pgwire
