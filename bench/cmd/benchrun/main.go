// Command benchrun runs pgshield's benchmark against direct PostgreSQL,
// PgBouncer and HAProxy and writes bench/results/<date>-<mode>.{md,json,png}.
//
//	go run ./bench/cmd/benchrun            # quick: under 3 minutes
//	go run ./bench/cmd/benchrun -full      # full: about 11 minutes
//
// Ctrl-C stops every process it started and removes its files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pgshield/pgshield/bench/harness"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	var (
		opts    harness.Options
		only    = fs.String("only", "", "comma-separated workload IDs to run (default: all of the mode)")
		gobench = fs.String("gobench", "", "space-separated packages whose `go test -bench` results to include, e.g. \"./audit ./firewall\"")
		limit   = fs.Duration("timeout", 25*time.Minute, "give up after this long")
		again   = fs.String("rerender", "", "rewrite the .md/.json/.png of this results JSON from its rounds, measuring nothing")
	)
	fs.BoolVar(&opts.Full, "full", false, "run the full plan (about 11 minutes) instead of the quick one")
	fs.StringVar(&opts.PgshieldBin, "pgshield", "", "a built pgshield binary (default: build ./cmd/pgshield)")
	fs.StringVar(&opts.RepoDir, "repo", ".", "the pgshield module root")
	fs.StringVar(&opts.OutDir, "out", "", "results directory (default REPO/bench/results)")
	fs.IntVar(&opts.PoolSize, "pool", 20, "pool size of PgBouncer and pooled pgshield variants")
	fs.IntVar(&opts.Rounds, "rounds", 0, "override the plan's rounds")
	fs.DurationVar(&opts.Duration, "duration", 0, "override every workload's duration")
	fs.BoolVar(&opts.Hold, "hold", false, "start the targets of -only's workloads, write each one's libpq env file, and wait for Ctrl-C (for profiling by hand)")
	fs.IntVar(&opts.MemoryClients, "memory", 0, "idle clients of the memory workload (negative skips it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *again != "" {
		rep, err := harness.Rerender(*again)
		if err != nil {
			return err
		}
		fmt.Println(rep.Summary())
		return nil
	}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	opts.GoBench = strings.Fields(*gobench)
	opts.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *limit)
	defer cancel()
	rep, err := harness.Run(ctx, opts)
	if opts.Hold && err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted; every process stopped")
	}
	if err != nil {
		return err
	}
	fmt.Println(rep.Summary())
	return nil
}
