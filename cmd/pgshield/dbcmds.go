package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/dbinit"
	"github.com/pgshield/pgshield/hba"
)

// superuserDSN reads the superuser connection string from an environment
// variable or a file: never from a flag value, which `ps` would show.
func superuserDSN(envVar, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("superuser DSN: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	v := os.Getenv(envVar)
	if v == "" {
		return "", fmt.Errorf("superuser DSN: set %s (or --dsn-file FILE)", envVar)
	}
	return v, nil
}

// initDBCmd: `init-db --plan FILE` converges roles and grants.
func initDBCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("init-db", flag.ContinueOnError)
	planFile := fs.String("plan", "", "role and grant plan (YAML; see configs/roles.example.yaml)")
	dsnEnv := fs.String("dsn-env", "PGSHIELD_SUPERUSER_DSN", "environment variable holding the superuser DSN")
	dsnFile := fs.String("dsn-file", "", "file holding the superuser DSN (instead of --dsn-env)")
	pwFile := fs.String("password-file", "", "file holding the authenticator's password, set if it differs")
	dryRun := fs.Bool("dry-run", false, "print the SQL without committing it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *planFile == "" {
		return errors.New("init-db: --plan is required")
	}
	plan, err := dbinit.LoadPlan(*planFile)
	if err != nil {
		return err
	}
	dsn, err := superuserDSN(*dsnEnv, *dsnFile)
	if err != nil {
		return err
	}
	opts := dbinit.Options{DSN: dsn, DryRun: *dryRun}
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return fmt.Errorf("init-db: %w", err)
		}
		opts.AuthenticatorPassword = strings.TrimRight(string(b), "\r\n")
	}
	in, err := dbinit.New(opts)
	if err != nil {
		return err
	}
	rep, err := in.Apply(ctx, plan)
	if err != nil {
		return err
	}
	if *dryRun {
		return rep.WriteSQL(stdout)
	}
	for _, a := range rep.Actions {
		fmt.Fprintln(stdout, a.Summary)
	}
	fmt.Fprintf(stdout, "init-db: %d changes on database %s\n", len(rep.Actions), plan.Database)
	return nil
}

// genHBACmd prints a hardened pg_hba.conf and postgresql.conf fragment.
// With --config, the login role, databases and socket come from it.
func genHBACmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gen-hba", flag.ContinueOnError)
	var opts hba.Options
	var dbs, roles []string
	cfgFile := fs.String("config", "", "pgshield config to take roles, databases and socket from")
	fs.Func("database", "database the proxy may use (repeatable)", appendTo(&dbs))
	fs.Func("role", "role the proxy logs in as (repeatable)", appendTo(&roles))
	fs.StringVar(&opts.ProxySocketDir, "socket-dir", "", "unix socket directory (socket-only mode)")
	fs.StringVar(&opts.ProxyAddr, "proxy-addr", "", "the proxy's IP address (TCP mode, hostssl)")
	fs.StringVar(&opts.ListenAddr, "listen-addr", "", "address the backend listens on in TCP mode")
	fs.BoolVar(&opts.ClientCert, "client-cert", false, "require the proxy's client certificate (TCP mode)")
	fs.StringVar(&opts.SSLCertFile, "ssl-cert", "", "backend ssl_cert_file")
	fs.StringVar(&opts.SSLKeyFile, "ssl-key", "", "backend ssl_key_file")
	fs.StringVar(&opts.SSLCAFile, "ssl-ca", "", "backend ssl_ca_file")
	fs.StringVar(&opts.AdminRole, "admin-role", "", "a maintenance role allowed over the local socket")
	fs.StringVar(&opts.SocketGroup, "socket-group", "", "unix_socket_group (the proxy's group)")
	fs.StringVar(&opts.LogStatement, "log-statement", "all", "log_statement: none, ddl, mod or all")
	fs.IntVar(&opts.Port, "port", 0, "backend port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgFile != "" {
		cfg, err := config.Load(*cfgFile)
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			roles = append(roles, cfg.Backend.LoginRole)
			if cfg.RoleMode == "login" {
				for _, id := range cfg.Identities {
					roles = appendNew(roles, id.Role)
				}
			}
		}
		if len(dbs) == 0 {
			for _, id := range cfg.Identities {
				for _, db := range id.Databases {
					dbs = appendNew(dbs, db)
				}
			}
		}
		if opts.ProxySocketDir == "" && opts.ProxyAddr == "" && cfg.Backend.IsUnixSocket() {
			opts.ProxySocketDir = cfg.Backend.Host
		}
		if opts.Port == 0 {
			opts.Port = cfg.Backend.Port
		}
	}
	opts.Databases, opts.Roles = dbs, roles
	hbaConf, pgConf, err := hba.Generate(opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# ---- pg_hba.conf ----\n%s\n# ---- postgresql.conf ----\n%s", hbaConf, pgConf)
	return nil
}

func appendNew(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// appendTo returns a flag.Func callback collecting every occurrence of a
// flag into list.
func appendTo(list *[]string) func(string) error {
	return func(v string) error { *list = append(*list, v); return nil }
}
