package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Options configures Start. The zero value starts a unix-socket-only cluster
// on a free port in a new directory under os.TempDir.
type Options struct {
	// BinDir holds initdb, pg_ctl and postgres. Empty means: the directory of
	// initdb on PATH, else `pg_config --bindir`.
	BinDir string
	// Port is the TCP port (and the socket's name). Zero picks a free one.
	Port int
	// TCP also listens on 127.0.0.1. The default is a unix socket only.
	TCP bool
	// Superuser is the bootstrap superuser's name; "pgshield_super" when empty.
	Superuser string
	// Settings are extra postgresql.conf settings (for example log_statement).
	Settings map[string]string
	// RunAs is the system user that runs PostgreSQL when the process is root;
	// "postgres" when empty. Ignored for non-root processes.
	RunAs string
	// ParentDir is where the cluster's directory is created; os.TempDir when empty.
	// It must be traversable by RunAs.
	ParentDir string
}

// Cluster is a running PostgreSQL cluster. Stop removes it.
type Cluster struct {
	// Dir holds data/, the socket, the log and the superuser's password file.
	Dir string
	// SocketDir is the directory of the unix socket (host= for libpq).
	SocketDir string
	// Port is the port number of the socket and, with Options.TCP, of 127.0.0.1.
	Port int
	// Superuser is the bootstrap superuser's role name.
	Superuser string
	// PasswordFile holds the superuser's password (mode 0600, owned by the caller).
	PasswordFile string
	// LogFile is the server's log.
	LogFile string

	binDir   string
	dataDir  string
	password string
	cred     *syscall.Credential
	tcp      bool
	settings map[string]string
}

// Start creates and starts a cluster. The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	binDir, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	cred, runUID, runGID, err := runAsCredential(opts.RunAs)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.ParentDir, "pgshield-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{
		Dir:       dir,
		SocketDir: dir,
		Superuser: opts.Superuser,
		binDir:    binDir,
		dataDir:   filepath.Join(dir, "data"),
		LogFile:   filepath.Join(dir, "postgres.log"),
		cred:      cred,
		tcp:       opts.TCP,
		settings:  opts.Settings,
	}
	if c.Superuser == "" {
		c.Superuser = "pgshield_super"
	}
	ok := false
	defer func() {
		if !ok {
			_ = c.Stop()
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, runUID, runGID); err != nil {
			return nil, fmt.Errorf("pgcluster: hand %s to uid %d: %w", dir, runUID, err)
		}
	}
	c.Port = opts.Port
	if c.Port == 0 {
		if c.Port, err = freePort(); err != nil {
			return nil, err
		}
	}
	c.password, err = randomHex(32)
	if err != nil {
		return nil, err
	}
	if err := c.initdb(ctx, runUID, runGID); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// Password returns the superuser's password, for connecting in tests and tools.
// Never log it.
func (c *Cluster) Password() string { return c.password }

// Config returns a pgconn config for the superuser over the unix socket.
func (c *Cluster) Config(database string) (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		c.SocketDir, c.Port, c.Superuser, database))
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	cfg.Password = c.password
	return cfg, nil
}

// Exec runs each statement as the superuser on database (postgres when empty).
func (c *Cluster) Exec(ctx context.Context, database string, statements ...string) error {
	if database == "" {
		database = "postgres"
	}
	cfg, err := c.Config(database)
	if err != nil {
		return err
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pgcluster: connect as superuser: %w", err)
	}
	defer conn.Close(context.Background())
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s).ReadAll(); err != nil {
			return fmt.Errorf("pgcluster: %q: %w", s, err)
		}
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context, uid, gid int) error {
	pwfile := filepath.Join(c.Dir, "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer os.Remove(pwfile)
	if c.cred != nil {
		if err := os.Chown(pwfile, uid, gid); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	cmd := c.command(ctx, "initdb", "-D", c.dataDir, "-U", c.Superuser, "--pwfile", pwfile,
		"--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w: %s", err, lastLines(out, 5))
	}
	// The password file the caller reads is its own, not the server user's.
	c.PasswordFile = filepath.Join(c.Dir, "superuser.pw")
	if err := os.WriteFile(c.PasswordFile, []byte(c.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	hba := "# pgshield ephemeral cluster: SCRAM only\nlocal all all scram-sha-256\n"
	if c.tcp {
		hba += "host all all 127.0.0.1/32 scram-sha-256\n"
	}
	if err := c.writeOwned(filepath.Join(c.dataDir, "pg_hba.conf"), hba, uid, gid); err != nil {
		return err
	}
	return nil
}

func (c *Cluster) writeOwned(path, content string, uid, gid int) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(path, uid, gid); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	return nil
}

func (c *Cluster) serverOptions() string {
	listen := "''"
	if c.tcp {
		listen = "127.0.0.1"
	}
	opts := []string{
		"-p", strconv.Itoa(c.Port),
		"-k", c.SocketDir,
		"-c", "listen_addresses=" + listen,
		"-c", "password_encryption=scram-sha-256",
		"-c", "fsync=off",
		"-c", "max_connections=300",
	}
	keys := make([]string, 0, len(c.settings))
	for k := range c.settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, "-c", k+"="+quoteOption(c.settings[k]))
	}
	return strings.Join(opts, " ")
}

func (c *Cluster) start(ctx context.Context) error {
	cmd := c.command(ctx, "pg_ctl", "-D", c.dataDir, "-l", c.LogFile, "-w", "-t", "60",
		"-o", c.serverOptions(), "start")
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(c.LogFile)
		return fmt.Errorf("pgcluster: pg_ctl start: %w: %s %s", err, lastLines(out, 3), lastLines(log, 5))
	}
	return nil
}

// Restart stops the server (fast mode: sessions are terminated) and starts it again.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.stopServer(ctx, "fast"); err != nil {
		return err
	}
	return c.start(ctx)
}

// StopServer stops the server but keeps the data, for tests of an unreachable backend.
func (c *Cluster) StopServer(ctx context.Context) error { return c.stopServer(ctx, "fast") }

// StartServer starts a server stopped by StopServer.
func (c *Cluster) StartServer(ctx context.Context) error { return c.start(ctx) }

func (c *Cluster) stopServer(ctx context.Context, mode string) error {
	cmd := c.command(ctx, "pg_ctl", "-D", c.dataDir, "-m", mode, "-w", "-t", "60", "stop")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl stop: %w: %s", err, lastLines(out, 3))
	}
	return nil
}

// Stop stops the server (immediate mode) and removes the cluster's directory.
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	if c.Dir == "" {
		return nil
	}
	var err error
	if _, statErr := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); statErr == nil {
		err = c.stopServer(context.Background(), "immediate")
	}
	if rmErr := os.RemoveAll(c.Dir); rmErr != nil && err == nil {
		err = fmt.Errorf("pgcluster: %w", rmErr)
	}
	c.Dir = ""
	return err
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Dir = c.Dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Env = append(cmd.Env, "HOME="+c.Dir)
	}
	return cmd
}

// findBinDir locates PostgreSQL's server programs.
func findBinDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	// Debian's server packages keep their programs off PATH.
	if matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(matches) > 0 {
		sort.Strings(matches)
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", errors.New("pgcluster: initdb not found on PATH nor in `pg_config --bindir`; install PostgreSQL (apt-get install postgresql)")
}

// runAsCredential returns the credential to run PostgreSQL with, or nil when
// the process is not root.
func runAsCredential(name string) (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Getuid(), os.Getgid(), nil
	}
	if name == "" {
		name = "postgres"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("pgcluster: running as root needs the unprivileged user %q for PostgreSQL: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func quoteOption(v string) string {
	if strings.ContainsAny(v, " '\\") {
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return v
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// WaitGone polls until no server answers on the socket, for tests that stop it.
func (c *Cluster) WaitGone(ctx context.Context) error {
	sock := filepath.Join(c.SocketDir, fmt.Sprintf(".s.PGSQL.%d", c.Port))
	for {
		if _, err := os.Stat(sock); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
