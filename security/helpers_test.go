package security

import (
	"crypto/tls"
	"net/netip"
	"time"
)

// testNow is the fixed clock every test evaluates at.
func testNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// hardened returns Facts that pass every check.
func hardened() Facts {
	return Facts{
		TLS: TLSFacts{
			MinVersion:          tls.VersionTLS13,
			ClientCertsRequired: true,
			CRLLoaded:           true,
			CRLNextUpdate:       testNow().Add(72 * time.Hour),
			ServerCertNotAfter:  testNow().Add(365 * 24 * time.Hour),
		},
		Backend:     BackendFacts{Transport: TransportUnix},
		Roles:       RoleFacts{Mode: "login", FirewallOn: true},
		Audit:       AuditFacts{Enabled: true, Mode: "sync", CheckpointsSigned: true},
		Credentials: CredentialFacts{Source: "store", Method: "hybrid", RotationOn: true, RotationInterval: 168 * time.Hour},
		KeyFiles: []KeyFile{
			{Path: "/etc/pgshield/server.key", Mode: 0o600, Purpose: "TLS server key"},
			{Path: "/etc/pgshield/identity.key", Mode: 0o400, Purpose: "credential store identity"},
		},
		Listeners: ListenerFacts{
			MetricsEnabled: true, MetricsLoopback: true,
			AdminEnabled: true, AdminLoopback: true,
		},
		ProxyProtocol: ProxyProtocolFacts{Enabled: true, Trusted: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}},
		Now:           testNow(),
	}
}

// failing returns the names of r's failing checks, in order.
func failing(r Report) []string {
	var names []string
	for _, c := range r.Checks {
		if !c.OK {
			names = append(names, c.Name)
		}
	}
	return names
}
