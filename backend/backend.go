package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/internal/rawio"
)

// Options describes the backend server and how to log into it.
type Options struct {
	// Host is a unix socket directory (absolute path) or a TCP host.
	Host string
	// Port is the server port (and the socket's name).
	Port int
	// TLSMode is "disable" (unix socket only) or "verify-full".
	TLSMode string
	// TLSCAFile verifies the server's certificate in verify-full mode.
	TLSCAFile string
	// TLSServerName overrides the host name checked in the certificate.
	TLSServerName string
	// ConnectTimeout bounds one login.
	ConnectTimeout time.Duration
	// Credentials returns the login and its password at each login, so that
	// a rotation takes effect on the next connection. role is the identity's
	// mapped role in role_mode login, and "" when pgshield logs in as its
	// authenticator.
	Credentials func(role string) (user, password string, err error)
	// Around, when set, wraps each whole login (reading the credentials and
	// logging in), so that a password change can be serialized against the
	// logins of that role.
	Around func(role string, login func() error) error
}

// Conn is a logged-in backend connection, taken over from pgconn.
type Conn struct {
	// Conn is the raw connection, positioned after the first ReadyForQuery.
	net.Conn
	// PID and SecretKey identify the session for CancelRequest.
	PID       uint32
	SecretKey []byte
	// Params are the ParameterStatus values the server reported at login.
	Params map[string]string
	// User is the role this connection logged in as.
	User string
}

// Connector opens backend connections.
type Connector struct {
	opts Options
}

// New validates opts. It does not connect.
func New(opts Options) (*Connector, error) {
	if opts.Host == "" || opts.Port == 0 {
		return nil, errors.New("backend: host and port are required")
	}
	if opts.Credentials == nil {
		return nil, errors.New("backend: no credentials source")
	}
	switch opts.TLSMode {
	case "disable", "verify-full":
	default:
		return nil, fmt.Errorf("backend: tls mode %q is not disable or verify-full", opts.TLSMode)
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	return &Connector{opts: opts}, nil
}

// LoginError is a failure to log into the backend. Its Error() is for logs;
// clients get a generic message with SQLState.
type LoginError struct {
	// SQLState is what the client should see: 08001 for an unreachable server
	// or a refused login, or the server's own code for a missing database.
	SQLState string
	// ClientMessage is safe to show the client.
	ClientMessage string
	Err           error
}

func (e *LoginError) Error() string { return "backend login: " + e.Err.Error() }
func (e *LoginError) Unwrap() error { return e.Err }

// Connect logs in to database with the given startup parameters, as the
// login Credentials names for role.
func (c *Connector) Connect(ctx context.Context, database, role string, params map[string]string) (*Conn, error) {
	if c.opts.Around == nil {
		return c.connect(ctx, database, role, params)
	}
	var conn *Conn
	err := c.opts.Around(role, func() error {
		var err error
		conn, err = c.connect(ctx, database, role, params)
		return err
	})
	return conn, err
}

func (c *Connector) connect(ctx context.Context, database, role string, params map[string]string) (*Conn, error) {
	user, password, err := c.opts.Credentials(role)
	if err != nil {
		return nil, &LoginError{SQLState: "08001", ClientMessage: "pgshield has no backend credentials", Err: err}
	}
	cfg, err := c.config(user, database)
	if err != nil {
		return nil, &LoginError{SQLState: "08001", ClientMessage: "pgshield cannot reach the database", Err: err}
	}
	cfg.Password = password
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classify(err, database)
	}
	if err := pc.SyncConn(ctx); err != nil {
		pc.Close(context.Background())
		return nil, &LoginError{SQLState: "08001", ClientMessage: "pgshield cannot reach the database", Err: err}
	}
	// pgshield's statement quoting and the firewall's lexer both assume
	// standard strings; a server that says otherwise is refused.
	if v := pc.ParameterStatus("standard_conforming_strings"); v != "on" {
		pc.Close(context.Background())
		return nil, &LoginError{SQLState: "08001", ClientMessage: "pgshield cannot use this database",
			Err: fmt.Errorf("backend reports standard_conforming_strings=%q; pgshield requires on", v)}
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(context.Background())
		return nil, &LoginError{SQLState: "08001", ClientMessage: "pgshield cannot reach the database", Err: err}
	}
	return &Conn{Conn: rawio.Wrap(hc.Conn), PID: hc.PID, SecretKey: hc.SecretKey, Params: hc.ParameterStatuses, User: user}, nil
}

// classify turns a pgconn error into what the client may see. Backend error
// text never reaches the client: only codes a client can act on pass.
func classify(err error, database string) *LoginError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "3D000":
			return &LoginError{SQLState: "3D000", ClientMessage: fmt.Sprintf("database %q does not exist", database), Err: err}
		case "53300":
			return &LoginError{SQLState: "53300", ClientMessage: "the database has too many connections", Err: err}
		case "57P03":
			return &LoginError{SQLState: "57P03", ClientMessage: "the database is starting up or shutting down", Err: err}
		}
		return &LoginError{SQLState: "08001", ClientMessage: "pgshield could not log into the database", Err: err}
	}
	return &LoginError{SQLState: "08001", ClientMessage: "pgshield cannot reach the database", Err: err}
}

func (c *Connector) config(user, database string) (*pgconn.Config, error) {
	o := c.opts
	kv := []string{
		"host=" + quote(o.Host),
		"port=" + strconv.Itoa(o.Port),
		"user=" + quote(user),
		"dbname=" + quote(database),
		"sslmode=" + o.TLSMode,
	}
	if o.TLSMode == "verify-full" {
		kv = append(kv, "sslrootcert="+quote(o.TLSCAFile))
	}
	cfg, err := pgconn.ParseConfig(strings.Join(kv, " "))
	if err != nil {
		return nil, err
	}
	// Nothing from the environment (PGOPTIONS, PGAPPNAME, fallbacks) may
	// change what pgshield sends.
	cfg.RuntimeParams = map[string]string{}
	cfg.Fallbacks = nil
	cfg.ValidateConnect = nil
	cfg.AfterConnect = nil
	cfg.KerberosSrvName, cfg.KerberosSpn = "", ""
	if cfg.TLSConfig != nil {
		cfg.TLSConfig.MinVersion = tls.VersionTLS12
		if o.TLSServerName != "" {
			cfg.TLSConfig.ServerName = o.TLSServerName
		}
	}
	return cfg, nil
}

// Cancel asks the server to cancel the query running in session pid.
func (c *Connector) Cancel(ctx context.Context, pid uint32, key []byte) error {
	cfg, err := c.config("cancel", "cancel")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	network, addr := "tcp", net.JoinHostPort(c.opts.Host, strconv.Itoa(c.opts.Port))
	if strings.HasPrefix(c.opts.Host, "/") {
		network, addr = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", c.opts.Host, c.opts.Port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return fmt.Errorf("backend cancel: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if cfg.TLSConfig != nil {
		conn, err = startTLS(conn, cfg.TLSConfig)
		if err != nil {
			return fmt.Errorf("backend cancel: %w", err)
		}
		defer conn.Close()
	}
	req := &pgproto3.CancelRequest{ProcessID: pid, SecretKey: key}
	buf, err := req.Encode(nil)
	if err != nil {
		return fmt.Errorf("backend cancel: %w", err)
	}
	if _, err := conn.Write(buf); err != nil {
		return fmt.Errorf("backend cancel: %w", err)
	}
	// The server closes the connection when done; wait for it so the cancel
	// has been delivered before we report success.
	var one [1]byte
	conn.Read(one[:])
	return nil
}

func startTLS(conn net.Conn, cfg *tls.Config) (net.Conn, error) {
	if _, err := conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		return nil, err
	}
	var resp [1]byte
	if _, err := conn.Read(resp[:]); err != nil {
		return nil, err
	}
	if resp[0] != 'S' {
		return nil, errors.New("server refused TLS")
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc, nil
}

// quote quotes a value for a libpq keyword/value connection string.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
