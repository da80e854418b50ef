package tlsterm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ALPNProtocol is the ALPN protocol name PostgreSQL uses (PG 17+).
const ALPNProtocol = "postgresql"

// certCheckInterval is how often, at most, the server certificate files are
// stat'ed for changes during handshakes.
const certCheckInterval = time.Second

// Handshaker is the part of Terminator the proxy depends on, so proxy tests
// can substitute it.
type Handshaker interface {
	Handshake(ctx context.Context, conn net.Conn, early []byte, requireALPN bool) (*tls.Conn, Peer, error)
}

var _ Handshaker = (*Terminator)(nil)

// Terminator terminates client TLS and verifies client certificates.
// It is safe for concurrent use and owns no goroutines, so it needs no Close.
type Terminator struct {
	// cfg is validated and defaulted at New and never changed.
	cfg Config
	// base is the single tls.Config every connection starts from; its only
	// job is GetConfigForClient plus holding the session ticket keys, which
	// crypto/tls takes from the original config.
	base *tls.Config
	// cur is the current generation of loaded files.
	cur atomic.Pointer[state]
	// reloadMu serializes writers of cur (Reload and the on-disk
	// certificate check) so neither loses the other's update.
	reloadMu sync.Mutex
	// lastCertCheck is the Now() in UnixNano of the last on-disk check; it
	// rate-limits stat calls to one per certCheckInterval across handshakes.
	lastCertCheck atomic.Int64
}

// New loads and validates every file in cfg. It fails on a bad config rather
// than at the first client.
func New(cfg Config) (*Terminator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Terminator{cfg: cfg}
	t.base = &tls.Config{
		MinVersion:         cfg.MinVersion,
		GetConfigForClient: t.configForClient,
		Time:               cfg.Now,
	}
	st, err := t.load()
	if err != nil {
		return nil, fmt.Errorf("tlsterm: %w", err)
	}
	t.cur.Store(st)
	t.lastCertCheck.Store(cfg.Now().UnixNano())
	return t, nil
}

// Reload re-reads every file. On any error the previous state stays in
// force and the error is returned.
func (t *Terminator) Reload() error {
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	st, err := t.load()
	if err != nil {
		t.cfg.Logger.Warn("tlsterm: reload failed, keeping previous certificates", "err", err)
		return fmt.Errorf("tlsterm: reload: %w", err)
	}
	t.cur.Store(st)
	t.cfg.Logger.Info("tlsterm: reloaded certificates", "server_not_after", st.serverLeaf.NotAfter)
	return nil
}

// load builds a complete new state from the files.
func (t *Terminator) load() (*state, error) {
	cas, err := loadClientCAs(t.cfg.ClientCAFile)
	if err != nil {
		return nil, err
	}
	st := &state{clientCAs: x509.NewCertPool()}
	for _, ca := range cas {
		st.clientCAs.AddCert(ca)
		if st.caNotAfter.IsZero() || ca.NotAfter.Before(st.caNotAfter) {
			st.caNotAfter = ca.NotAfter
		}
	}
	if t.cfg.CRLFile != "" {
		if st.crls, err = loadCRLs(t.cfg.CRLFile, cas); err != nil {
			return nil, err
		}
	}
	if err := t.setServerCert(st); err != nil {
		return nil, err
	}
	return st, nil
}

// setServerCert loads the server certificate into st and builds the
// per-connection tls.Config for it.
func (t *Terminator) setServerCert(st *state) error {
	pair, stamp, err := loadServerCert(&t.cfg)
	if err != nil {
		return err
	}
	c := t.base.Clone()
	c.GetConfigForClient = nil
	c.Certificates = []tls.Certificate{*pair}
	c.NextProtos = []string{ALPNProtocol}
	// Request but do not verify: the package verifies after the handshake
	// so a rejection can be reported as a PostgreSQL error (see doc.go).
	c.ClientAuth = tls.RequestClientCert
	st.tlsConfig, st.serverLeaf, st.certStamp = c, pair.Leaf, stamp
	return nil
}

// maybeReloadCert picks up a server certificate replaced on disk, checking
// at most once per certCheckInterval. Failures keep the current certificate
// (a half-written pair is retried on the next check).
func (t *Terminator) maybeReloadCert() {
	now := t.cfg.Now().UnixNano()
	last := t.lastCertCheck.Load()
	if now-last < int64(certCheckInterval) || !t.lastCertCheck.CompareAndSwap(last, now) {
		return
	}
	stamp, err := statPair(t.cfg.CertFile, t.cfg.KeyFile)
	if err != nil || stamp == t.cur.Load().certStamp {
		return
	}
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	old := t.cur.Load()
	if old.certStamp == stamp {
		return // a concurrent Reload got there first
	}
	next := *old
	if err := t.setServerCert(&next); err != nil {
		t.cfg.Logger.Warn("tlsterm: server certificate changed on disk but does not load; keeping the old one", "err", err)
		return
	}
	t.cur.Store(&next)
	t.cfg.Logger.Info("tlsterm: server certificate reloaded from disk", "not_after", next.serverLeaf.NotAfter)
}

// configForClient is the base config's GetConfigForClient: it records what
// the client offered (to classify failures) and returns the current state's
// config, so a reload applies from the next handshake.
func (t *Terminator) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	obs, ok := hello.Context().Value(observationKey{}).(*observation)
	if !ok {
		// Only Handshake uses base, and it always sets this; fail closed.
		return nil, errors.New("tlsterm: handshake without observation")
	}
	if !slices.ContainsFunc(hello.SupportedVersions, func(v uint16) bool {
		return v >= t.cfg.MinVersion && v <= tls.VersionTLS13
	}) {
		// Let crypto/tls refuse it so the client gets a protocol_version
		// alert; we only remember why.
		obs.version = &versionError{min: t.cfg.MinVersion, offered: hello.SupportedVersions}
	}
	hasPG := slices.Contains(hello.SupportedProtos, ALPNProtocol)
	switch {
	case obs.requireALPN && !hasPG:
		// crypto/tls cannot refuse a missing ALPN extension itself; failing
		// here aborts the handshake with an internal_error alert, which is
		// what a PostgreSQL 17 server's abrupt close amounts to as well.
		obs.alpn = fmt.Errorf("direct TLS without ALPN %q (client offered %q)", ALPNProtocol, hello.SupportedProtos)
		return nil, obs.alpn
	case len(hello.SupportedProtos) > 0 && !hasPG:
		// crypto/tls rejects this with no_application_protocol.
		obs.alpn = fmt.Errorf("client offered ALPN %q, not %q", hello.SupportedProtos, ALPNProtocol)
	}
	t.maybeReloadCert()
	return t.cur.Load().tlsConfig, nil
}

// observationKey is the context key for *observation.
type observationKey struct{}

// observation is what configForClient saw in one handshake. It is written
// by the handshake goroutine only and read after the handshake returns.
type observation struct {
	requireALPN bool
	version     *versionError
	alpn        error
}

// Expiry lists the dates after which the current files stop working.
type Expiry struct {
	// ServerNotAfter is the server certificate's NotAfter.
	ServerNotAfter time.Time
	// ClientCANotAfter is the earliest NotAfter in the client CA bundle.
	ClientCANotAfter time.Time
	// CRLNextUpdate is the earliest NextUpdate of the loaded CRLs; zero when
	// no CRL is configured.
	CRLNextUpdate time.Time
}

// Expiry reports the current state's expiry dates, for metrics and reports.
func (t *Terminator) Expiry() Expiry {
	st := t.cur.Load()
	e := Expiry{ServerNotAfter: st.serverLeaf.NotAfter, ClientCANotAfter: st.caNotAfter}
	for _, c := range st.crls {
		if e.CRLNextUpdate.IsZero() || c.nextUpdate.Before(e.CRLNextUpdate) {
			e.CRLNextUpdate = c.nextUpdate
		}
	}
	return e
}
