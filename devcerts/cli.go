package devcerts

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Command implements `pgshield certs ARGS...`, so cmd/pgshield only has to
// dispatch to it. The only subcommand is:
//
//	init --dir DIR --client NAME [--client NAME ...]
//
// It prints the paths it wrote or found to out; never key contents.
func Command(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: pgshield certs init --dir DIR --client NAME [--client NAME ...]")
	}
	fs := flag.NewFlagSet("certs init", flag.ContinueOnError)
	fs.SetOutput(out)
	dir := fs.String("dir", "", "directory for the development PKI (created with mode 0700)")
	var clients []string
	fs.Func("client", "client name to issue a certificate for (repeatable)", appendTo(&clients))
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("certs init: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("certs init: unexpected argument %q", fs.Arg(0))
	}
	if *dir == "" {
		return errors.New("certs init: --dir is required")
	}
	files, err := Init(*dir, clients)
	if err != nil {
		return err
	}
	created := make(map[string]bool, len(files.Created))
	for _, p := range files.Created {
		created[p] = true
	}
	line := func(label, path string) {
		state := "kept"
		if created[path] {
			state = "created"
		}
		fmt.Fprintf(out, "%-8s %-22s %s\n", state, label, path)
	}
	line("CA certificate", files.CACert)
	line("CA key", files.CAKey)
	line("server certificate", files.ServerCert)
	line("server key", files.ServerKey)
	line("CRL", files.CRL)
	for _, name := range clients {
		line("client "+name+" cert", files.Clients[name].Cert)
		line("client "+name+" key", files.Clients[name].Key)
	}
	return nil
}

// appendTo returns a flag.Func callback collecting every occurrence of a
// flag into list.
func appendTo(list *[]string) func(string) error {
	return func(v string) error { *list = append(*list, v); return nil }
}
