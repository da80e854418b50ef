package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/edge"
	"github.com/pgshield/pgshield/proxy"
)

// buildEdge makes the throttle, limits and allow-lists cfg asks for.
func buildEdge(cfg *config.Config) (proxy.Edge, error) {
	var e proxy.Edge
	l := cfg.Limits
	if l.AuthFailures >= 0 {
		t, err := edge.NewThrottle(edge.ThrottleOptions{MaxFailures: l.AuthFailures, Window: l.AuthFailureWindow, Block: l.AuthBlock})
		if err != nil {
			return e, fmt.Errorf("limits: %w", err)
		}
		e.Throttle = t
	}
	per := map[string]int{}
	allow := map[string][]netip.Prefix{}
	restricted := false
	for _, id := range cfg.Identities {
		if id.MaxConnections > 0 {
			per[id.Name] = id.MaxConnections
		}
		prefixes, err := edge.ParsePrefixes(id.AllowedCIDRs)
		if err != nil {
			return e, fmt.Errorf("identities %s: allowed_cidrs: %w", id.Name, err)
		}
		if len(prefixes) > 0 {
			restricted = true
		}
		allow[id.Name] = prefixes
	}
	defPer := l.PerIdentityConnections
	if defPer == 0 {
		defPer = 100
	}
	maxHS := l.MaxHandshakes
	if maxHS == 0 {
		maxHS = 256
	}
	lim, err := edge.NewLimiter(edge.LimiterOptions{MaxHandshakes: maxHS, DefaultPerIdentity: defPer, PerIdentity: per})
	if err != nil {
		return e, fmt.Errorf("limits: %w", err)
	}
	e.Limiter = lim
	if restricted {
		if e.AllowList, err = edge.NewAllowList(allow); err != nil {
			return e, fmt.Errorf("identities: allowed_cidrs: %w", err)
		}
	}
	return e, nil
}

// listen opens the client listener: SO_REUSEPORT when asked (a second
// instance can take the address over for a rolling restart), wrapped in the
// PROXY protocol listener when load balancers are trusted.
func listen(cfg *config.Config, inner net.Listener) (net.Listener, error) {
	ln := inner
	if ln == nil {
		lc := net.ListenConfig{}
		if cfg.ListenReusePort {
			lc.Control = func(network, address string, c syscall.RawConn) error {
				var serr error
				err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
				})
				if err != nil {
					return err
				}
				return serr
			}
		}
		var err error
		if ln, err = lc.Listen(context.Background(), "tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	pp := cfg.ProxyProtocol
	if len(pp.TrustedCIDRs) == 0 {
		return ln, nil
	}
	trusted, err := edge.ParsePrefixes(pp.TrustedCIDRs)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("proxy_protocol.trusted_cidrs: %w", err)
	}
	wrapped, err := edge.NewProxyProtoListener(ln, edge.ProxyProtoOptions{TrustedCIDRs: trusted, Required: pp.Required, HeaderTimeout: pp.HeaderTimeout})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("proxy_protocol: %w", err)
	}
	return wrapped, nil
}
