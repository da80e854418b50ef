package security

import (
	"crypto/tls"
	"fmt"
	"time"
)

// certWarning is how long before expiry server_cert starts failing: long
// enough to renew by hand before clients see an expired certificate.
const certWarning = 30 * 24 * time.Hour

func pass(name, detail string) Check {
	return Check{Name: name, OK: true, Detail: detail, Ceiling: LevelMaximum}
}

func fail(name string, ceiling Level, detail, recommendation string) Check {
	return Check{Name: name, Detail: detail, Recommendation: recommendation, Ceiling: ceiling}
}

// day formats t for the report: to the minute, in UTC, so reports from
// hosts in different zones read alike.
func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// tlsVersion grades a tls.Config.MinVersion; who is "clients" or
// "backend", and fix says how to require TLS 1.3 there.
func tlsVersion(name, who, fix string, v uint16) Check {
	detail := ""
	if v == 0 {
		// crypto/tls's default minimum is TLS 1.2 for clients and servers.
		v, detail = tls.VersionTLS12, " (crypto/tls default)"
	}
	switch {
	case v >= tls.VersionTLS13:
		return pass(name, who+": TLS 1.3 only")
	case v == tls.VersionTLS12:
		return fail(name, LevelHigh, who+": TLS 1.2 and later allowed"+detail, fix)
	}
	return fail(name, LevelReduced, fmt.Sprintf("%s: %s and later allowed", who, tls.VersionName(v)), fix)
}

func clientCerts(t TLSFacts) Check {
	if t.ClientCertsRequired {
		return pass("client_certs", "every client presents a certificate from the client CA")
	}
	return fail("client_certs", LevelModerate, "client certificates are optional",
		"require client certificates (mutual TLS)")
}

func crl(t TLSFacts, now time.Time) Check {
	const name = "crl"
	switch {
	case !t.CRLLoaded:
		return fail(name, LevelHigh, "no CRL: revoked client certificates are still accepted",
			"load the client CA's certificate revocation list")
	case t.CRLNextUpdate.IsZero():
		return pass(name, "CRL loaded (no nextUpdate)")
	case now.IsZero():
		return fail(name, LevelHigh, "CRL freshness unknown: no clock given",
			"report a bug: pgshield evaluated its security without the time")
	case !now.Before(t.CRLNextUpdate):
		return fail(name, LevelHigh, "CRL is stale: its nextUpdate "+day(t.CRLNextUpdate)+" has passed",
			"fetch the CA's current CRL and reload pgshield")
	}
	return pass(name, "CRL loaded, fresh until "+day(t.CRLNextUpdate))
}

func serverCert(notAfter, now time.Time) Check {
	const name = "server_cert"
	switch {
	case notAfter.IsZero():
		return fail(name, LevelHigh, "server certificate expiry unknown",
			"report a bug: pgshield evaluated its security without its certificate")
	case now.IsZero():
		return fail(name, LevelHigh, "server certificate expiry unchecked: no clock given",
			"report a bug: pgshield evaluated its security without the time")
	case !now.Before(notAfter):
		return fail(name, LevelModerate, "server certificate expired on "+day(notAfter)+
			": clients that still connect are not verifying it",
			"renew the server certificate and reload pgshield")
	case notAfter.Sub(now) < certWarning:
		return fail(name, LevelHigh, fmt.Sprintf("server certificate expires on %s, in %d days",
			day(notAfter), int(notAfter.Sub(now)/(24*time.Hour))),
			"renew the server certificate and reload pgshield")
	}
	return pass(name, "server certificate valid until "+day(notAfter))
}

func backend(b BackendFacts) []Check {
	const name = "backend_transport"
	switch b.Transport {
	case TransportUnix:
		return []Check{pass(name, "unix socket: PostgreSQL has no network path")}
	case TransportVerifyFull:
		return []Check{
			pass(name, "TCP with TLS, certificate and host name verified (verify-full)"),
			tlsVersion("backend_tls_version", "backend",
				"require TLS 1.3 on the backend connection (PostgreSQL 12 and later support it)", b.TLSMinVersion),
		}
	case TransportInsecure:
		return []Check{fail(name, LevelReduced,
			"TCP without verified TLS: traffic and credentials can be read or altered on the path",
			"connect over a unix socket, or use TLS with sslmode=verify-full")}
	}
	return []Check{fail(name, LevelReduced, fmt.Sprintf("unknown backend transport %q", b.Transport),
		"connect over a unix socket, or use TLS with sslmode=verify-full")}
}
