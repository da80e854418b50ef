package edge

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ParsePrefixes parses allow-list or trusted-source entries: CIDRs
// ("10.0.0.0/8", "2001:db8::/32") and bare addresses ("192.0.2.7", "::1"),
// which become single-address prefixes. IPv4-mapped IPv6 entries
// ("::ffff:10.0.0.0/104") are turned into their IPv4 form so they match the
// unmapped addresses the rest of this package compares against.
//
// It is strict on purpose, because a typo in a security list should fail at
// start-up rather than admit or refuse the wrong network: a CIDR with host
// bits set ("10.0.0.1/8") is rejected with the network it probably meant, as
// are zones ("fe80::1%eth0"), empty entries and anything else that does not
// parse. All bad entries are reported at once.
func ParsePrefixes(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	var errs []error
	for i, raw := range entries {
		p, err := parsePrefix(strings.TrimSpace(raw))
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d %q: %w", i, raw, err))
			continue
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("edge: invalid address list: %w", errors.Join(errs...))
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty entry")
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, errors.New("zoned addresses are not supported")
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR: %w", err)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a CIDR: %w", err)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("host bits set; did you mean %s?", m)
	}
	return canonicalPrefix(p)
}

// canonicalPrefix returns p masked, with an IPv4-mapped IPv6 prefix
// rewritten as IPv4, or an error if p cannot be compared against unmapped
// client addresses.
func canonicalPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, errors.New("invalid prefix")
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, errors.New("zoned addresses are not supported")
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("IPv4-mapped prefix %s is shorter than /96", p)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// canonicalAddr strips the zone and IPv4-mapping from a so that
// "::ffff:10.1.2.3" (what a dual-stack socket reports for an IPv4 client)
// matches 10.0.0.0/8.
func canonicalAddr(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}
