package edge

import (
	"fmt"
	"net/netip"
)

// AllowList restricts the client addresses each identity pattern may
// connect from. It is immutable after NewAllowList and safe for concurrent
// use; a config reload builds a new one.
//
// The zero value (and a nil *AllowList) admits no one: an identity pattern
// the list was not built with is refused, so a pattern added to the role map
// but forgotten here fails closed.
type AllowList struct {
	// rules maps an identity pattern to its canonical prefixes. A present
	// key with an empty slice means "any address".
	rules map[string][]netip.Prefix
}

// NewAllowList builds an AllowList from identity pattern to allowed
// prefixes (see ParsePrefixes to build them from strings).
//
// A pattern mapped to an empty or nil list may connect from any address:
// listing a pattern is how a deployment says "this identity exists and has
// no address restriction". To restrict a pattern to nowhere, do not list it.
// Prefixes are canonicalised (masked, IPv4-mapped IPv6 turned into IPv4);
// an invalid or zoned prefix is an error. The input map is copied.
func NewAllowList(rules map[string][]netip.Prefix) (*AllowList, error) {
	out := make(map[string][]netip.Prefix, len(rules))
	for pattern, prefixes := range rules {
		canon := make([]netip.Prefix, 0, len(prefixes))
		for i, p := range prefixes {
			c, err := canonicalPrefix(p)
			if err != nil {
				return nil, fmt.Errorf("edge: allow-list for %q, prefix %d (%s): %w", pattern, i, p, err)
			}
			canon = append(canon, c)
		}
		out[pattern] = canon
	}
	return &AllowList{rules: out}, nil
}

// Allowed reports whether identityPattern may connect from addr. The pattern
// is matched exactly (the caller has already resolved which pattern an
// identity falls under). An unknown pattern or an invalid addr is refused.
// IPv4-mapped IPv6 addresses are compared as IPv4 and zones are ignored.
func (a *AllowList) Allowed(identityPattern string, addr netip.Addr) bool {
	if a == nil || !addr.IsValid() {
		return false
	}
	prefixes, ok := a.rules[identityPattern]
	if !ok {
		return false
	}
	if len(prefixes) == 0 {
		return true
	}
	addr = canonicalAddr(addr)
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
