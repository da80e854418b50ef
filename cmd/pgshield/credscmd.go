package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/credrotate"
	"github.com/pgshield/pgshield/credstore"
	"github.com/pgshield/pgshield/daemon"
)

// credsCmd: init, status and rotate of the encrypted credential store.
func credsCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: pgshield creds init|status|rotate --config FILE")
	}
	fs := flag.NewFlagSet("creds "+args[0], flag.ContinueOnError)
	cfgFile := fs.String("config", "", "pgshield config (its credentials section)")
	dsnEnv := fs.String("dsn-env", "PGSHIELD_SUPERUSER_DSN", "init: variable holding a superuser DSN")
	dsnFile := fs.String("dsn-file", "", "init: file holding a superuser DSN")
	grace := fs.Duration("grace", 0, "rotate: grace period for the old login (default credentials.grace_period)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *cfgFile == "" {
		return fmt.Errorf("creds %s: --config is required", args[0])
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return err
	}
	if cfg.Credentials.StoreFile == "" {
		return fmt.Errorf("creds %s: the config has no credentials.store_file", args[0])
	}
	log := slog.New(slog.DiscardHandler)
	switch args[0] {
	case "status":
		key, err := credstore.LoadIdentityKey(cfg.Credentials.IdentityKeyFile)
		if err != nil {
			return err
		}
		st, err := credstore.ReadState(cfg.Credentials.StoreFile, key)
		if err != nil {
			return err
		}
		every := cfg.Credentials.RotationInterval
		if every == 0 {
			every = credrotate.DefaultInterval
		}
		if !cfg.Credentials.Rotate {
			every = 0
		}
		return credstore.Status(stdout, st, time.Now(), every)
	case "init":
		dsn, err := superuserDSN(*dsnEnv, *dsnFile)
		if err != nil {
			return err
		}
		su, err := pgconn.ParseConfig(dsn)
		if err != nil {
			return errors.New("creds init: the superuser DSN does not parse")
		}
		if cfg.Credentials.AdminDSNEnv == "" && cfg.Credentials.AdminDSNFile == "" {
			// Bootstrap runs as the superuser; rotation later needs its own admin DSN.
			cfg.Credentials.AdminDSNEnv = *dsnEnv
			if *dsnFile != "" {
				cfg.Credentials.AdminDSNFile, cfg.Credentials.AdminDSNEnv = *dsnFile, ""
			}
		}
		c, err := daemon.OpenCredentials(ctx, cfg, log, nil, false)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Bootstrap(ctx, su); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "credentials ready (passwords generated, stored encrypted in %s)\n", cfg.Credentials.StoreFile)
		return credstore.Status(stdout, c.Store().Snapshot(), time.Now(), 0)
	case "rotate":
		if *grace > 0 {
			cfg.Credentials.GracePeriod = *grace
		}
		c, err := daemon.OpenCredentials(ctx, cfg, log, nil, true)
		if err != nil {
			return fmt.Errorf("%w (is pgshield running? it holds the store: rotate through its schedule, or stop it)", err)
		}
		defer c.Close()
		if c.Rotator() == nil {
			return errors.New("creds rotate: set credentials.admin_dsn_env or admin_dsn_file")
		}
		if err := c.Rotate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rotated")
		return credstore.Status(stdout, c.Store().Snapshot(), time.Now(), 0)
	}
	return fmt.Errorf("unknown creds command %q", args[0])
}
