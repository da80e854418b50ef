package credrotate

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// scramIterations matches PostgreSQL's default scram_iterations.
const scramIterations = 4096

// checkRoleName accepts the plain lower-case identifiers pgshield creates.
// Quoting would make any name safe in SQL; the restriction keeps role names
// readable in logs and pg_hba.conf and fails closed on typos.
func checkRoleName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("role name %q must be 1..63 bytes", name)
	}
	for i, r := range name {
		switch {
		case r == '_' || r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return fmt.Errorf("role name %q may hold only a-z, 0-9 and _ and must not start with a digit", name)
		}
	}
	return nil
}

// quoteIdent quotes a role name for SQL.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteLiteral quotes a string constant. A backslash switches to an E”
// string so the result is right whatever standard_conforming_strings says.
func quoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// scramVerifier returns PostgreSQL's SCRAM-SHA-256 verifier for password
// (RFC 5802, 7677), so that the server stores it as is and never sees the
// password. Generated passwords are ASCII hex, for which SASLprep is the
// identity.
func scramVerifier(password string, rnd io.Reader) (string, error) {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return "", fmt.Errorf("scram salt: %w", err)
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram key: %w", err)
	}
	defer clear(salted)
	mac := func(msg string) []byte {
		h := hmac.New(sha256.New, salted)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac("Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(scramIterations) + ":" + b64(salt) + "$" +
		b64(stored[:]) + ":" + b64(mac("Server Key")), nil
}

// stmtError wraps a failed statement by its kind. The statement's text may
// carry a verifier and never goes into an error.
func stmtError(kind, login string, err error) error {
	return fmt.Errorf("credrotate: %s %s: %w", kind, login, err)
}

// connect opens a connection for cfg, which must come from ParseConfig.
// A *pgconn.ConnectError is unwrapped: it holds the whole Config, password
// included, and errors.As would hand it to any caller up the chain.
func connect(ctx context.Context, cfg *pgconn.Config, what string) (*pgconn.PgConn, error) {
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		var ce *pgconn.ConnectError
		if errors.As(err, &ce) {
			if inner := ce.Unwrap(); inner != nil {
				err = inner
			} else {
				err = errors.New("connection failed")
			}
		}
		return nil, fmt.Errorf("credrotate: connect %s: %w", what, err)
	}
	return conn, nil
}

// admin runs fn on a fresh admin connection. Steps open their own
// connection so a step retried after a crash needs no state but the store.
func (r *rotator) admin(ctx context.Context, fn func(*pgconn.PgConn) error) error {
	conn, err := connect(ctx, r.opts.Admin, "as admin")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

// setPassword enables login with password, valid forever: rotation, not
// VALID UNTIL, is what retires pgshield's passwords.
func (r *rotator) setPassword(ctx context.Context, login, password string) error {
	verifier, err := scramVerifier(password, r.opts.Rand)
	if err != nil {
		return stmtError("alter role password", login, err)
	}
	stmt := "ALTER ROLE " + quoteIdent(login) + " WITH LOGIN PASSWORD " + quoteLiteral(verifier) + " VALID UNTIL 'infinity'"
	err = r.admin(ctx, func(c *pgconn.PgConn) error {
		_, err := c.Exec(ctx, stmt).ReadAll()
		return err
	})
	if err != nil {
		return stmtError("alter role password", login, err)
	}
	return nil
}

// disableLogin makes login unusable: NOLOGIN stops new sessions, and PASSWORD
// NULL makes sure the old password fails even if LOGIN is granted again.
// Sessions already open are not affected.
func (r *rotator) disableLogin(ctx context.Context, login string) error {
	err := r.admin(ctx, func(c *pgconn.PgConn) error {
		_, err := c.Exec(ctx, "ALTER ROLE "+quoteIdent(login)+" WITH NOLOGIN PASSWORD NULL").ReadAll()
		return err
	})
	if err != nil {
		return stmtError("alter role nologin", login, err)
	}
	return nil
}

// verifyLogin logs in as login with password and runs SELECT 1.
func (r *rotator) verifyLogin(ctx context.Context, login, password string) error {
	cfg := r.opts.Login.Copy()
	cfg.User, cfg.Password = login, password
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "pgshield-credrotate-verify"
	conn, err := connect(ctx, cfg, "as "+login+" to verify the new password")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		return fmt.Errorf("credrotate: verify %s: select 1: %w", login, err)
	}
	return nil
}

// sessions counts login's sessions, terminating them first when terminate
// is set.
func (r *rotator) sessions(ctx context.Context, login string, terminate bool) (int, error) {
	var n int
	err := r.admin(ctx, func(c *pgconn.PgConn) error {
		if terminate {
			res := c.ExecParams(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
				[][]byte{[]byte(login)}, nil, nil, nil).Read()
			if res.Err != nil {
				return fmt.Errorf("terminate sessions: %w", res.Err)
			}
		}
		res := c.ExecParams(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
			[][]byte{[]byte(login)}, nil, nil, nil).Read()
		if res.Err != nil {
			return fmt.Errorf("count sessions: %w", res.Err)
		}
		if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
			return errors.New("count sessions: unexpected result")
		}
		var err error
		n, err = strconv.Atoi(string(res.Rows[0][0]))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("credrotate: sessions of %s: %w", login, err)
	}
	return n, nil
}
