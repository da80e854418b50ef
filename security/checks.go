package security

import (
	"fmt"
	"net/netip"
	"time"
)

// maxRotation is the longest rotation interval that passes: a leaked
// password is useful for at most a month.
const maxRotation = 30 * 24 * time.Hour

// defaultRotation is the rotation scheduler's default interval, which a
// zero CredentialFacts.RotationInterval stands for.
const defaultRotation = 168 * time.Hour

func roleMode(r RoleFacts) Check {
	const name = "role_mode"
	switch {
	case r.Mode == "login":
		return pass(name, "login: each role has its own backend login")
	case r.Mode == "set_local" && r.FirewallOn:
		return pass(name, "set_local: SET LOCAL ROLE per transaction, the firewall refuses role changes")
	case r.Mode == "set_local":
		return fail(name, LevelModerate,
			"set_local without the firewall: a client's own SET ROLE or RESET ROLE is not refused",
			`turn the statement firewall on, or use role mode "login"`)
	}
	return fail(name, LevelReduced, fmt.Sprintf("unknown role mode %q", r.Mode),
		`use role mode "login", or "set_local" with the firewall`)
}

func firewall(r RoleFacts) Check {
	if r.FirewallOn {
		return pass("firewall", "statement firewall on")
	}
	return fail("firewall", LevelHigh, "statement firewall off",
		"turn the statement firewall on")
}

func audit(a AuditFacts) []Check {
	if !a.Enabled {
		return []Check{fail("audit", LevelModerate, "audit log off: statements leave no trace",
			"turn the audit log on")}
	}
	var mode Check
	switch a.Mode {
	case "sync":
		mode = pass("audit", "on, sync: each record is on disk before the statement runs")
	case "batch", "":
		mode = pass("audit", "on, batch: records survive a proxy crash, fsync follows shortly")
	case "async":
		mode = fail("audit", LevelHigh, "on, async: a crash loses queued records",
			`use audit durability "batch" or "sync"`)
	default:
		mode = fail("audit", LevelModerate, fmt.Sprintf("on, unknown durability %q", a.Mode),
			`use audit durability "batch" or "sync"`)
	}
	closed := pass("audit_fail_closed", "statements stop while the audit log cannot be written")
	if a.FailOpen {
		closed = fail("audit_fail_closed", LevelModerate,
			"fails open: statements run unaudited while the log cannot be written",
			"make the audit log fail closed")
	}
	signed := pass("audit_checkpoints", "checkpoints signed: a rewritten log is detectable")
	if !a.CheckpointsSigned {
		signed = fail("audit_checkpoints", LevelHigh,
			"checkpoints unsigned: whoever controls the host can rewrite the log unnoticed",
			"configure an audit checkpoint signing key")
	}
	return []Check{mode, closed, signed}
}

func credentials(c CredentialFacts) Check {
	const name = "credentials"
	const toStore = "keep the backend password in pgshield's encrypted credential store"
	switch c.Source {
	case "store":
		switch c.Method {
		case "", "hybrid", "x25519", "hkdf":
			m := c.Method
			if m == "" {
				m = "hybrid"
			}
			return pass(name, "encrypted credential store ("+m+")")
		}
		return fail(name, LevelModerate, fmt.Sprintf("credential store with unknown method %q", c.Method),
			`use encryption method "hybrid", "x25519" or "hkdf"`)
	case "file":
		return fail(name, LevelHigh, "plaintext password file", toStore)
	case "env":
		return fail(name, LevelModerate,
			"environment variable: inherited by child processes and readable in /proc", toStore)
	}
	return fail(name, LevelModerate, fmt.Sprintf("unknown credential source %q", c.Source), toStore)
}

func rotation(c CredentialFacts) Check {
	const name = "credential_rotation"
	if !c.RotationOn {
		return fail(name, LevelHigh, "off: a leaked backend password stays valid",
			"turn credential rotation on, at least every 30 days")
	}
	every := c.RotationInterval
	if every == 0 {
		every = defaultRotation
	}
	if every > maxRotation {
		return fail(name, LevelHigh, "every "+period(every)+": longer than 30 days",
			"rotate the backend password at least every 30 days")
	}
	return pass(name, "every "+period(every))
}

// period formats a rotation interval in days when it is a whole number of
// them, as operators configure it.
func period(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

func keyFile(k KeyFile) Check {
	const name = "key_file"
	what := k.Path
	if k.Purpose != "" {
		what += " (" + k.Purpose + ")"
	}
	perm := k.Mode.Perm()
	fix := fmt.Sprintf("chmod 0600 %s", k.Path)
	switch {
	case perm&0o007 != 0:
		return fail(name, LevelReduced, fmt.Sprintf("%s: mode %04o, open to other users", what, perm), fix)
	case perm&0o070 != 0:
		return fail(name, LevelModerate, fmt.Sprintf("%s: mode %04o, open to its group", what, perm), fix)
	}
	return pass(name, fmt.Sprintf("%s: mode %04o, owner only", what, perm))
}

// listener grades an optional listener that should stay on loopback.
func listener(name, what string, enabled, loopback bool, ceiling Level) Check {
	switch {
	case !enabled:
		return pass(name, what+" off")
	case loopback:
		return pass(name, what+" on loopback only")
	}
	return fail(name, ceiling, what+" listens beyond loopback",
		"bind the "+what+" to 127.0.0.1 or ::1 and reach it through a tunnel")
}

func proxyProtocol(p ProxyProtocolFacts) Check {
	const name = "proxy_protocol"
	switch {
	case !p.Enabled:
		return pass(name, "PROXY protocol off")
	case len(p.Trusted) == 0:
		return pass(name, "PROXY protocol on, no peer trusted: every header is refused")
	}
	for _, n := range p.Trusted {
		if tooBroad(n) {
			return fail(name, LevelReduced,
				fmt.Sprintf("PROXY headers trusted from %s: any client can forge its address", n),
				"trust PROXY headers only from your load balancers' addresses")
		}
	}
	return pass(name, fmt.Sprintf("PROXY headers trusted from %d network(s)", len(p.Trusted)))
}

// tooBroad reports whether trusting n amounts to trusting the internet:
// an IPv4 network wider than /8, an IPv6 network wider than /16, or an
// IPv6 network covering that much of the IPv4-mapped range (0.0.0.0/0,
// 0.0.0.0/1, ::/0, 2000::/3, ::ffff:0:0/96, ::/80 ...). An invalid prefix
// counts as too broad.
func tooBroad(n netip.Prefix) bool {
	if !n.IsValid() {
		return true
	}
	bits := n.Bits()
	if n.Addr().Is4() {
		return bits < 8
	}
	mapped := netip.PrefixFrom(netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff}), 96)
	return bits < 16 || (bits < 96+8 && n.Overlaps(mapped))
}
