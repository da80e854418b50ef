package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"sync"
)

func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// bgCmd is a command running in the background with its output collected.
type bgCmd struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
	err error
}

func startCmd(ctx context.Context, name string, args ...string) *bgCmd {
	b := &bgCmd{cmd: exec.CommandContext(ctx, name, args...)}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	b.err = b.cmd.Start()
	return b
}

func (b *bgCmd) wait() (string, error) {
	if b.err != nil {
		return "", b.err
	}
	err := b.cmd.Wait()
	return b.out.String(), err
}
