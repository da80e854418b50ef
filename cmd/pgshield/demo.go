package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/pgshield/pgshield/demo"
)

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("dir", ".demo", "directory for certificates, config, secrets and demo.env")
	listen := fs.String("listen", "127.0.0.1:6432", "address the proxy listens on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return demo.Run(ctx, demo.Options{Dir: *dir, Listen: *listen, Out: stdout, Logger: log})
}
