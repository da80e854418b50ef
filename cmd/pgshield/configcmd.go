package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/credstore"
	"github.com/pgshield/pgshield/daemon"
	"github.com/pgshield/pgshield/rolemap"
)

// configCmd: `config check --config FILE` validates the file and loads
// everything it points at (certificates, CRL, identities, the backend
// secret), exactly as serve would before listening.
func configCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return errors.New("usage: pgshield config check --config FILE")
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	cfgFile := fs.String("config", "", "config file (YAML)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *cfgFile == "" {
		return errors.New("config check: --config is required")
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return err
	}
	if _, err := daemon.NewTerminator(cfg, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("config %s: %w", *cfgFile, err)
	}
	if _, err := rolemap.New(cfg.Identities); err != nil {
		return fmt.Errorf("config %s: identities: %w", *cfgFile, err)
	}
	if cfg.Credentials.StoreFile != "" {
		key, err := credstore.LoadIdentityKey(cfg.Credentials.IdentityKeyFile)
		if err != nil {
			return fmt.Errorf("config %s: credentials.identity_key_file: %w", *cfgFile, err)
		}
		if _, err := credstore.ReadState(cfg.Credentials.StoreFile, key); err != nil {
			return fmt.Errorf("config %s: credentials.store_file: %w", *cfgFile, err)
		}
	} else if cfg.RoleMode == "set_local" {
		if _, err := cfg.BackendPassword(); err != nil {
			return fmt.Errorf("config %s: %w", *cfgFile, err)
		}
	}
	fmt.Fprintf(stdout, "config %s is valid: listen %s, %d identities, backend %s:%d as %s\n",
		*cfgFile, cfg.Listen, len(cfg.Identities), cfg.Backend.Host, cfg.Backend.Port, cfg.Backend.LoginRole)
	return nil
}
