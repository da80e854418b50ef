package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pgshield/pgshield/audit"
)

func auditCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: pgshield audit verify|tail|search|keygen ...")
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", "", "audit log directory")
	switch args[0] {
	case "verify":
		pub := fs.String("pubkey", "", "checkpoint verifier key file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" || *pub == "" {
			return errors.New("audit verify: --dir and --pubkey are required")
		}
		ok, err := audit.RunVerify(stdout, *dir, *pub)
		if err != nil {
			return err
		}
		if !ok {
			return &exitError{code: 1}
		}
		return nil
	case "tail":
		n := fs.Int("n", 20, "number of records")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("audit tail: --dir is required")
		}
		return audit.Tail(stdout, *dir, *n)
	case "search":
		var f audit.Filter
		var since, until, kind string
		fs.StringVar(&f.Identity, "identity", "", "certificate identity")
		fs.StringVar(&since, "since", "", "RFC 3339 time or a duration ago (1h)")
		fs.StringVar(&until, "until", "", "RFC 3339 time or a duration ago")
		fs.StringVar(&f.SQLState, "sqlstate", "", "SQLSTATE")
		fs.BoolVar(&f.DeniedOnly, "denied", false, "only denied statements")
		fs.StringVar(&kind, "kind", "", "record kind")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("audit search: --dir is required")
		}
		var err error
		if f.Since, err = parseWhen(since); err != nil {
			return fmt.Errorf("audit search: --since: %w", err)
		}
		if f.Until, err = parseWhen(until); err != nil {
			return fmt.Errorf("audit search: --until: %w", err)
		}
		f.Kind = audit.Kind(kind)
		return audit.Search(stdout, *dir, f)
	case "keygen":
		name := fs.String("name", "pgshield-audit", "key name (the checkpoint origin's signer)")
		key := fs.String("key", "", "private key file to write (0600)")
		pub := fs.String("pubkey", "", "verifier key file to write")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *key == "" || *pub == "" {
			return errors.New("audit keygen: --key and --pubkey are required")
		}
		return audit.WriteKeyFiles(stdout, *name, *key, *pub)
	}
	return fmt.Errorf("unknown audit command %q", args[0])
}

// parseWhen accepts an RFC 3339 time or a duration meaning that long ago.
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Parse(time.RFC3339, s)
}
