package e2e

import (
	"strings"
	"testing"
)

func TestPsqlSelectOne(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	out, stderr, err := psql(t, env.DSN(p, "app"), "-c", "select 1")
	if err != nil || out != "1" {
		t.Fatalf("psql: %v out=%q stderr=%q", err, out, stderr)
	}
	// The login is reported with the identity, and the backend password is nowhere in the log.
	logs := p.Log.String()
	if !strings.Contains(logs, "identity=app") {
		t.Errorf("session log lacks the identity:\n%s", logs)
	}
	if strings.Contains(logs, env.LoginPassword()) {
		t.Fatal("backend password in the log")
	}
}
