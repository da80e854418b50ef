package e2e

import "syscall"

// interrupt is what Ctrl-C sends.
const interrupt = syscall.SIGINT
