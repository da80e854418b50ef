package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/pgshield/pgshield/credstore"
)

// keysCmd: Shamir split and combine of the node identity key.
func keysCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: pgshield keys split|combine ...")
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	switch args[0] {
	case "split":
		key := fs.String("key", "", "identity key file")
		out := fs.String("out", "", "directory for the share files")
		shares := fs.Int("shares", 5, "number of shares")
		threshold := fs.Int("threshold", 3, "shares needed to rebuild the key")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *key == "" || *out == "" {
			return errors.New("keys split: --key and --out are required")
		}
		files, err := credstore.SplitIdentityKey(*key, *out, *shares, *threshold, nil)
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintln(stdout, f)
		}
		fmt.Fprintf(stdout, "%d shares written; any %d rebuild the key. Give each to a different holder.\n", *shares, *threshold)
		return nil
	case "combine":
		out := fs.String("out", "", "identity key file to write (0600)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" || fs.NArg() == 0 {
			return errors.New("keys combine: --out and share files are required")
		}
		if err := credstore.CombineIdentityKey(fs.Args(), *out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "identity key rebuilt into %s\n", *out)
		return nil
	}
	return fmt.Errorf("unknown keys command %q", args[0])
}
