package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// DefaultHeaderTimeout bounds the PROXY header read when
// ProxyProtoOptions.HeaderTimeout is zero.
const DefaultHeaderTimeout = 5 * time.Second

// DefaultMaxPendingHeaders bounds connections waiting for their PROXY
// header when ProxyProtoOptions.MaxPending is zero.
const DefaultMaxPendingHeaders = 1024

// Reasons logged (attribute "reason") and passed to
// ProxyProtoOptions.OnReject when a connection is closed before Accept
// returns it.
const (
	// ReasonUntrusted: a source outside TrustedCIDRs sent a PROXY header.
	ReasonUntrusted = "proxy_header_untrusted"
	// ReasonMissing: a trusted source sent no header while Required.
	ReasonMissing = "proxy_header_missing"
	// ReasonTimeout: the header (or, from a source that must send one, its
	// first byte) did not arrive within HeaderTimeout.
	ReasonTimeout = "proxy_header_timeout"
	// ReasonInvalid: the header did not parse, named a non-TCP transport,
	// or the socket failed while it was read.
	ReasonInvalid = "proxy_header_invalid"
	// ReasonOverload: MaxPending connections were already waiting for a
	// header.
	ReasonOverload = "proxy_header_overload"
)

// ProxyProtoOptions configures NewProxyProtoListener. The policy is:
//
//   - a source in TrustedCIDRs may send a PROXY header (v1 or v2), and must
//     if Required; the accepted connection's RemoteAddr is the client
//     address from the header;
//   - any other source must not send one: a header from it is refused
//     (ReasonUntrusted) rather than ignored, because ignoring would leave
//     the header bytes in the pgwire stream; without a header it is
//     accepted with its TCP peer address.
type ProxyProtoOptions struct {
	// TrustedCIDRs are the load balancers allowed to send a header.
	// Required: an empty list is a config error, because such a listener
	// could only ever refuse headers (leave the listener unwrapped instead).
	TrustedCIDRs []netip.Prefix
	// Required refuses a connection from a trusted source that sends no
	// header (ReasonMissing). Use it when every trusted source is a load
	// balancer configured to send one; false allows, e.g., an LB's own
	// health checks without a header.
	Required bool
	// HeaderTimeout bounds reading the header, per connection, from the
	// accept. DefaultHeaderTimeout when zero; negative is an error.
	// Because PostgreSQL clients speak first, a client silent for this long
	// is closed even when it needs no header.
	HeaderTimeout time.Duration
	// MaxPending bounds connections accepted from the inner listener but
	// still waiting for their header or for an Accept call; beyond it new
	// connections are closed at once (ReasonOverload) so a flood of silent
	// sockets cannot exhaust descriptors. DefaultMaxPendingHeaders when
	// zero; negative is an error.
	MaxPending int
	// Logger receives one record per refused connection; nothing is logged
	// when nil.
	Logger *slog.Logger
	// OnReject, when non-nil, is called with the reason of every refused
	// connection, for metrics. It runs on the connection's goroutine and
	// must not block.
	OnReject func(reason string)
}

// withDefaults validates o and returns a copy with zero values filled in
// and TrustedCIDRs canonicalised.
func (o ProxyProtoOptions) withDefaults() (ProxyProtoOptions, error) {
	var errs []error
	if len(o.TrustedCIDRs) == 0 {
		errs = append(errs, errors.New("TrustedCIDRs is empty: no source could send a PROXY header"))
	}
	trusted := make([]netip.Prefix, 0, len(o.TrustedCIDRs))
	for i, p := range o.TrustedCIDRs {
		c, err := canonicalPrefix(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("TrustedCIDRs[%d] %s: %w", i, p, err))
			continue
		}
		trusted = append(trusted, c)
	}
	o.TrustedCIDRs = trusted
	switch {
	case o.HeaderTimeout < 0:
		errs = append(errs, errors.New("HeaderTimeout is negative"))
	case o.HeaderTimeout == 0:
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	switch {
	case o.MaxPending < 0:
		errs = append(errs, errors.New("MaxPending is negative"))
	case o.MaxPending == 0:
		o.MaxPending = DefaultMaxPendingHeaders
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("edge: invalid PROXY protocol options: %w", errors.Join(errs...))
	}
	return o, nil
}

// trusts reports whether a may send a PROXY header.
func (o *ProxyProtoOptions) trusts(a netip.Addr) bool {
	a = canonicalAddr(a)
	for _, p := range o.TrustedCIDRs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
