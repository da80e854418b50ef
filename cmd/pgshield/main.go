// Command pgshield is a PostgreSQL wire-protocol security proxy. main only
// parses the command line and wires packages together; each subcommand's
// work lives in its package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `pgshield: a PostgreSQL security proxy (TLS 1.3, client certificates, least privilege)

Usage:
  pgshield serve --config FILE           run the proxy (SIGHUP reloads certificates, SIGTERM drains)
  pgshield demo [--dir DIR] [--listen ADDR]
                                         run on an embedded ephemeral PostgreSQL with dev certificates
  pgshield certs init --dir DIR --client NAME [--client NAME ...]
                                         create a development CA, server and client certificates
  pgshield config check --config FILE    validate a config and everything it points at
  pgshield audit verify --dir DIR --pubkey FILE
  pgshield audit tail --dir DIR [-n N]
  pgshield audit search --dir DIR [--identity ID] [--since T] [--until T] [--sqlstate S] [--denied]
  pgshield audit keygen --name NAME --key FILE --pubkey FILE
  pgshield init-db --plan FILE [--dsn-env VAR | --dsn-file FILE] [--password-file FILE] [--dry-run]
                                         create least-privilege roles and grants (superuser DSN from env/file)
  pgshield gen-hba [--config FILE] [--socket-dir DIR | --proxy-addr IP] ...
                                         print a hardened pg_hba.conf and postgresql.conf fragment
  pgshield creds init|status|rotate --config FILE
                                         bootstrap, show or rotate the encrypted backend credentials
  pgshield keys split --key FILE --out DIR --shares N --threshold K
  pgshield keys combine --out FILE SHARE...
`

// exitError carries a specific exit status (audit verify exits 1 on tampering).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 2
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		err = ee.err
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgshield: "+oneLine(err.Error()))
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2}
	}
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:], stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "certs":
		return certsCmd(args[1:], stdout)
	case "config":
		return configCmd(args[1:], stdout)
	case "audit":
		return auditCmd(args[1:], stdout)
	case "keys":
		return keysCmd(args[1:], stdout)
	case "creds":
		return credsCmd(ctx, args[1:], stdout)
	case "init-db":
		return initDBCmd(ctx, args[1:], stdout)
	case "gen-hba":
		return genHBACmd(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (run pgshield help)", args[0])
}

// oneLine keeps CLI errors to one line: joined errors are separated by "; ".
func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' {
			out = append(out, ';', ' ')
			continue
		}
		out = append(out, r)
	}
	return string(out)
}
