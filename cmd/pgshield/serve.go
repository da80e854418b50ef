package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/daemon"
	"github.com/pgshield/pgshield/devcerts"
)

func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgFile := fs.String("config", "", "config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgFile == "" {
		return errors.New("serve: --config is required")
	}
	cfg, err := config.Load(*cfgFile)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	d, err := daemon.New(cfg, daemon.Options{Logger: log, Report: stderr, ConfigPath: *cfgFile})
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := d.Reload(); err != nil {
				log.Error("reload refused; previous configuration stays in force", "err", err)
				continue
			}
			log.Info("reload applied")
		}
	}()
	return d.Run(ctx)
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func certsCmd(args []string, stdout io.Writer) error { return devcerts.Command(args, stdout) }
