package hba

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// Options describes the backend's one legitimate client, the proxy.
// Exactly one of ProxySocketDir and ProxyAddr is required.
type Options struct {
	// Databases the proxy may connect to. Required.
	Databases []string
	// Roles the proxy logs in as (its authenticator roles). Required.
	Roles []string
	// ProxySocketDir selects socket-only mode: the backend's unix socket
	// lives in this absolute directory (unix_socket_directories), it listens
	// on no TCP address, and Roles connect with `local` lines.
	ProxySocketDir string
	// ProxyAddr selects TCP mode: the proxy's IP address. Roles connect with
	// a `hostssl` line for exactly this address (/32 or /128).
	ProxyAddr string
	// ListenAddr is the IP address the backend listens on in TCP mode.
	// Empty means ProxyAddr when that is a loopback address; otherwise it
	// is required. Wildcards are refused.
	ListenAddr string
	// ClientCert adds clientcert=verify-full to the hostssl line, so the
	// proxy must also present a certificate signed by SSLCAFile.
	ClientCert bool
	// SSLCertFile, SSLKeyFile and SSLCAFile set ssl_cert_file, ssl_key_file
	// and ssl_ca_file in TCP mode. Empty leaves the server's defaults
	// (server.crt and server.key in the data directory; no CA).
	SSLCertFile, SSLKeyFile, SSLCAFile string
	// AdminRole, when not empty, may connect to every database over the
	// local socket (scram-sha-256) for maintenance. Empty means no admin
	// line: administrators use the server's OS account.
	AdminRole string
	// SocketGroup sets unix_socket_group, the group the proxy runs in, so
	// that unix_socket_permissions 0770 admits it. Empty leaves it unset.
	SocketGroup string
	// LogStatement is log_statement: none, ddl, mod or all. Empty means all,
	// as the design asks for a full audit trail.
	LogStatement string
	// Port is the server's port. Zero leaves it unset (5432).
	Port int
	// MaxConnections is max_connections. Zero leaves it unset (100).
	MaxConnections int
}

// validate checks opts and returns the normalised proxy and listen
// addresses (invalid in socket mode).
func (o *Options) validate() (proxy, listen netip.Addr, err error) {
	if len(o.Databases) == 0 {
		return proxy, listen, errors.New("hba: no databases")
	}
	if len(o.Roles) == 0 {
		return proxy, listen, errors.New("hba: no roles")
	}
	for _, n := range append(slices.Clone(o.Databases), o.Roles...) {
		if n == "" {
			return proxy, listen, errors.New("hba: empty database or role name")
		}
	}
	for _, n := range append(append(slices.Clone(o.Databases), o.Roles...), o.AdminRole, o.SocketGroup) {
		if err := checkName(n); err != nil {
			return proxy, listen, err
		}
	}
	if o.AdminRole != "" && slices.Contains(o.Roles, o.AdminRole) {
		return proxy, listen, fmt.Errorf("hba: admin role %q is also a proxy role", o.AdminRole)
	}
	if !slices.Contains([]string{"", "none", "ddl", "mod", "all"}, o.LogStatement) {
		return proxy, listen, fmt.Errorf("hba: log_statement %q is not one of none, ddl, mod, all", o.LogStatement)
	}
	if o.Port < 0 || o.Port > 65535 || o.MaxConnections < 0 {
		return proxy, listen, errors.New("hba: port or max_connections out of range")
	}
	for _, f := range []string{o.ProxySocketDir, o.SSLCertFile, o.SSLKeyFile, o.SSLCAFile} {
		if strings.ContainsAny(f, "'\n\r\x00") {
			return proxy, listen, fmt.Errorf("hba: path %q has a quote or control character", f)
		}
	}
	switch {
	case (o.ProxySocketDir == "") == (o.ProxyAddr == ""):
		return proxy, listen, errors.New("hba: set exactly one of ProxySocketDir and ProxyAddr")
	case o.ProxySocketDir != "":
		if !filepath.IsAbs(o.ProxySocketDir) || strings.Contains(o.ProxySocketDir, ",") {
			return proxy, listen, fmt.Errorf("hba: socket directory %q must be an absolute path without commas", o.ProxySocketDir)
		}
		if o.ListenAddr != "" || o.ClientCert || o.SSLCertFile != "" || o.SSLKeyFile != "" || o.SSLCAFile != "" {
			return proxy, listen, errors.New("hba: ListenAddr, ClientCert and SSL files apply to TCP mode (ProxyAddr) only")
		}
		return proxy, listen, nil
	}
	if proxy, err = parseHost("proxy", o.ProxyAddr); err != nil {
		return proxy, listen, err
	}
	switch {
	case o.ListenAddr != "":
		if listen, err = parseHost("listen", o.ListenAddr); err != nil {
			return proxy, listen, err
		}
	case proxy.IsLoopback():
		listen = proxy
	default:
		return proxy, listen, errors.New("hba: ListenAddr is required when the proxy is not on loopback")
	}
	if o.ClientCert && o.SSLCAFile == "" {
		return proxy, listen, errors.New("hba: ClientCert needs SSLCAFile to verify the proxy's certificate")
	}
	return proxy, listen, nil
}

// parseHost accepts one concrete IP address: no wildcard, no prefix.
func parseHost(what, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("hba: %s address: %w", what, err)
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
		return a, fmt.Errorf("hba: %s address %s is not a single host address", what, s)
	}
	return a, nil
}

// checkName refuses names pg_hba.conf cannot carry even quoted: it has no
// escape for a double quote, and a line ends at a newline.
func checkName(n string) error {
	if strings.ContainsFunc(n, func(r rune) bool { return r == '"' || r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("hba: name %q has a double quote or control character", n)
	}
	if len(n) > 63 {
		return fmt.Errorf("hba: name %q is longer than 63 bytes", n)
	}
	return nil
}

// hbaKeywords mean something in pg_hba.conf's database or user columns
// unless quoted.
var hbaKeywords = []string{"all", "sameuser", "samerole", "samegroup", "replication"}

// quoteName quotes a name for pg_hba.conf when it would otherwise be read
// as a keyword, a group (+), a file include (@), a regular expression (/),
// a list or a comment.
func quoteName(n string) string {
	if n == "" || slices.Contains(hbaKeywords, n) || strings.ContainsAny(n, " \t,#'\\") ||
		strings.ContainsAny(n[:1], "+@/") {
		return `"` + n + `"`
	}
	return n
}

// nameList joins quoted names with commas, pg_hba.conf's list syntax.
func nameList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteName(n)
	}
	return strings.Join(q, ",")
}
