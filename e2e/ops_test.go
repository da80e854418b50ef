package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	proxyproto "github.com/pires/go-proxyproto"
	"go.yaml.in/yaml/v3"

	"github.com/pgshield/pgshield/daemon"
	"github.com/pgshield/pgshield/devcerts"
)

// metricValue returns the value of the series whose line starts with prefix.
func metricValue(t *testing.T, body, prefix string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
	}
	return -1
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMetricsMoveUnderLoad scrapes /metrics around real traffic and checks
// the series move as they should; /readyz follows the backend.
func TestMetricsMoveUnderLoad(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := auditConfig(t, dir)
	cfg.Metrics.Listen = "127.0.0.1:0"
	p := env.StartProxy(t, cfg)
	base := "http://" + p.Daemon.OpsAddr().String()
	conn := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	for i := range 20 {
		conn.Exec(c, "select $1::int", i)
	}
	conn.Exec(c, "reset role")
	if _, _, err := env.PKI.ForeignClient("metrics-foreign"); err != nil {
		t.Fatal(err)
	}
	psql(t, env.DSN(p, "metrics-foreign"), "-c", "select 1")
	time.Sleep(5500 * time.Millisecond) // one refresh of the read-only series
	body := scrape(t, base+"/metrics")
	checks := []struct {
		prefix string
		min    float64
	}{
		{`pgshield_statements_total{identity="app"}`, 20},
		{`pgshield_transactions_total{identity="app"}`, 20},
		{`pgshield_tls_handshakes_total`, 1},
		{`pgshield_tls_handshake_failures_total{reason="unknown_ca"}`, 1},
		{`pgshield_firewall_denials_total{rule="set_role"}`, 1},
		{`pgshield_pool_size{pool="appdb/pgshield_login"}`, 20},
		{`pgshield_backend_connects_total`, 1},
		{`pgshield_audit_records_total{kind="statement"}`, 20},
		{`pgshield_statement_duration_seconds_count`, 20},
		{`pgshield_certificate_expiry_seconds{certificate="server"}`, 86400},
	}
	var appConns float64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, `pgshield_client_connections{identity="app"`) {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			appConns += v
		}
	}
	if appConns != 1 {
		t.Errorf("client_connections for app: %v, want 1", appConns)
	}
	for _, ck := range checks {
		if v := metricValue(t, body, ck.prefix); v < ck.min {
			t.Errorf("%s = %v, want >= %v", ck.prefix, v, ck.min)
		}
	}
	if strings.Contains(body, "metrics-foreign") {
		t.Error("an unconfigured identity got its own series")
	}
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, resp)
	}
}

// TestProxyProtocol: headers from a trusted balancer give the real client
// address (which the allow-list checks); headers from anyone else are
// refused.
func TestProxyProtocol(t *testing.T) {
	cfg := env.Config()
	cfg.ProxyProtocol.TrustedCIDRs = []string{"127.0.0.1/32"}
	cfg.Identities[0].AllowedCIDRs = []string{"203.0.113.0/24"}
	p := env.StartProxy(t, cfg)
	addr := net.JoinHostPort(p.Host, p.Port)
	for _, version := range []byte{1, 2} {
		before := len(p.Log.String())
		if err := startupThrough(t, addr, version, "203.0.113.7", "app"); err != nil {
			t.Fatalf("v%d from a trusted balancer: %v", version, err)
		}
		waitLog(t, p.Log, before, "client_addr=203.0.113.7")
	}
	// Without a header the client is 127.0.0.1, which app's allow-list refuses.
	_, stderr, err := psql(t, env.DSN(p, "app"), "-c", "select 1")
	if err == nil || !strings.Contains(stderr, "may not connect from this address") {
		t.Fatalf("allow-list: %v %q", err, stderr)
	}
	// From an address outside the list, through the balancer: refused too.
	if err := startupThrough(t, addr, 2, "198.51.100.9", "app"); err == nil || !strings.Contains(err.Error(), "may not connect from this address") {
		t.Fatalf("outside the allow-list: %v", err)
	}

	untrusted := env.Config()
	untrusted.ProxyProtocol.TrustedCIDRs = []string{"10.0.0.0/8"}
	q := env.StartProxy(t, untrusted)
	if err := startupThrough(t, net.JoinHostPort(q.Host, q.Port), 2, "203.0.113.7", "analyst"); err == nil {
		t.Fatal("a PROXY header from an untrusted source was accepted")
	}
}

// startupThrough connects with a PROXY header claiming src, then TLS and a
// startup as identity; it returns the server's error, or nil once ready.
func startupThrough(t *testing.T, addr string, version byte, src, identity string) error {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	dst := raw.RemoteAddr().(*net.TCPAddr)
	h := proxyproto.HeaderProxyFromAddrs(version, &net.TCPAddr{IP: net.ParseIP(src), Port: 40000}, dst)
	if _, err := h.WriteTo(raw); err != nil {
		return err
	}
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	raw.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	var b [1]byte
	if _, err := io.ReadFull(raw, b[:]); err != nil || b[0] != 'S' {
		return fmt.Errorf("SSLRequest: %q %v", b, err)
	}
	conn := tls.Client(raw, clientTLS(t, identity))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": identity, "database": env.Database}})
	if err := fe.Flush(); err != nil {
		return err
	}
	for {
		msg, err := fe.Receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("%s: %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			return nil
		}
	}
}

// TestThrottle: after N failed authentications an address is refused early,
// even with a valid certificate.
func TestThrottle(t *testing.T) {
	cfg := env.Config()
	cfg.Limits.AuthFailures = 3
	cfg.Limits.AuthFailureWindow = time.Minute
	cfg.Limits.AuthBlock = time.Minute
	p := env.StartProxy(t, cfg)
	if _, _, err := env.PKI.Client("throttled-unknown", devcerts.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		psql(t, env.DSN(p, "throttled-unknown"), "-c", "select 1")
	}
	before := len(p.Log.String())
	if out, _, err := psql(t, env.DSN(p, "app"), "-c", "select 'in'"); err == nil || out == "in" {
		t.Fatal("a blocked address was served")
	}
	waitLog(t, p.Log, before, "reason=throttled")
	// On the wire the refusal is an ErrorResponse with its SQLSTATE.
	raw, err := net.Dial("tcp", net.JoinHostPort(p.Host, p.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	expectFatal(t, raw, "28000")
}

// TestSecurityLevelPolicy: strict refuses to start below the minimum, warn
// starts and prints the report, permissive starts silently.
func TestSecurityLevelPolicy(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		starts    bool
		printsLvl bool
	}{{"strict", false, true}, {"warn", true, true}, {"permissive", true, false}} {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := env.Config()
			cfg.Security.MinimumLevel = "maximum" // no audit log: below maximum
			cfg.Security.FallbackMode = tc.mode
			var report bytes.Buffer
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			d, err := daemon.New(cfg, daemon.Options{Listener: ln, Report: &report})
			if d != nil {
				d.Close()
			}
			if tc.starts != (err == nil) {
				t.Fatalf("started=%v err=%v", err == nil, err)
			}
			if !tc.starts && !strings.Contains(err.Error(), "below minimum") {
				t.Fatalf("error %q", err)
			}
			if got := strings.Contains(report.String(), "⚠"); got != tc.printsLvl {
				t.Fatalf("report printed=%v:\n%s", got, report.String())
			}
		})
	}
	// Each level is reachable: maximum needs the audit log, too.
	cfg, _ := auditConfig(t, t.TempDir())
	cfg.Security.MinimumLevel = "high"
	cfg.Security.FallbackMode = "strict"
	var report bytes.Buffer
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	d, err := daemon.New(cfg, daemon.Options{Listener: ln, Report: &report})
	if err != nil {
		t.Fatalf("hardened config refused: %v\n%s", err, report.String())
	}
	d.Close()
	t.Logf("%s", regexp.MustCompile(`(?m)^.*level.*$`).FindString(report.String()))
}

// TestReloadUnderLoad: a new identity map, CRL and pool size are reloaded
// while pgbench runs, with no failed transaction; a bad config reload
// changes nothing.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	cfg := env.Config()
	path := filepath.Join(dir, "pgshield.yaml")
	write := func(v any) {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg)
	p := env.StartProxyWith(t, cfg, daemon.Options{ConfigPath: path})
	dsn := env.DSN(p, "app")
	c := ctx(t)
	if out, err := runCmd(c, "pgbench", "-i", "-s", "1", "-q", dsn); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	if _, _, err := env.PKI.Client("newcomer", devcerts.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.PKI.RevokedClient("revoked-later"); err != nil { // rewrites the CRL on disk
		t.Fatal(err)
	}
	bench := startCmd(c, "pgbench", "-c", "8", "-j", "2", "-T", "6", "-n", dsn)
	time.Sleep(time.Second)
	next := env.Config()
	next.Identities = append(next.Identities, next.Identities[0], next.Identities[0])
	next.Identities[2].Name = "newcomer"
	next.Identities[3].Name = "revoked-later"
	next.Pool.Size = 12
	write(next)
	if err := p.Daemon.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if out, _, err := psql(t, env.DSN(p, "newcomer", "user=newcomer"), "-c", "select current_user"); err != nil || out != "app_rw" {
		t.Fatalf("new identity after reload: %v %q", err, out)
	}
	// The identity is allowed now; the reloaded CRL is what refuses it.
	if _, stderr, err := psql(t, env.DSN(p, "revoked-later", "user=revoked-later"), "-c", "select 1"); err == nil || !strings.Contains(stderr, "revoked") {
		t.Fatalf("revoked certificate after the CRL reload: %v %q", err, stderr)
	}
	os.WriteFile(path, []byte("listen: [broken\n"), 0o600)
	if err := p.Daemon.Reload(); err == nil {
		t.Fatal("a broken config was accepted")
	}
	if out, _, err := psql(t, env.DSN(p, "newcomer", "user=newcomer"), "-c", "select 1"); err != nil || out != "1" {
		t.Fatalf("the old config did not stay in force: %v", err)
	}
	out, err := bench.wait()
	if err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	if f := regexp.MustCompile(`number of failed transactions: (\d+)`).FindStringSubmatch(out); f == nil || f[1] != "0" {
		t.Fatalf("failed transactions during reload:\n%s", out)
	}
	var size int
	for _, ps := range p.Daemon.Server().Pools() {
		size = ps.Size
	}
	if size != 12 {
		t.Fatalf("pool size after reload: %d", size)
	}
}

// TestCancelAcrossInstances: a CancelRequest that a load balancer sends to
// another instance reaches the one that issued the key.
func TestCancelAcrossInstances(t *testing.T) {
	a := env.StartProxy(t, env.Config())
	cfgB := env.Config()
	cfgB.Peering.Instance = 1
	cfgB.Peering.Peers = map[int]string{0: net.JoinHostPort(a.Host, a.Port)}
	b := env.StartProxy(t, cfgB)
	conn := pgxConnect(t, env.DSN(a, "app"))
	c := ctx(t)
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Exec(c, "select pg_sleep(30)")
		errc <- err
	}()
	waitBackendQuery(t, "pg_sleep(30)")
	raw, err := net.Dial("tcp", net.JoinHostPort(b.Host, b.Port))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := (&pgproto3.CancelRequest{ProcessID: conn.PgConn().PID(), SecretKey: conn.PgConn().SecretKey()}).Encode(nil)
	raw.Write(msg)
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw.Read(make([]byte, 1))
	raw.Close()
	select {
	case err := <-errc:
		if pgCode(err) != "57014" {
			t.Fatalf("want 57014, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancel did not reach the issuing instance")
	}
	if !strings.Contains(b.Log.String(), "cancel request forwarded") {
		t.Fatal("instance B did not forward")
	}
}

// TestRollingRestartReusePort: with listen_reuse_port a second instance
// binds the same address; the first drains and clients keep connecting.
func TestRollingRestartReusePort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := env.Config()
	cfg.Listen, cfg.ListenReusePort = addr, true
	old := env.StartProxy(t, cfg)
	next := env.StartProxy(t, cfg) // the same address: SO_REUSEPORT
	if next.Port != old.Port {
		t.Fatalf("ports %s and %s", old.Port, next.Port)
	}
	if err := old.Stop(); err != nil {
		t.Fatalf("old instance: %v", err)
	}
	for i := range 5 {
		out, _, err := psql(t, env.DSN(next, "app"), "-c", fmt.Sprintf("select %d", i))
		if err != nil || out != fmt.Sprint(i) {
			t.Fatalf("after the old instance left: %v %q", err, out)
		}
	}
}
