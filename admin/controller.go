package admin

import (
	"context"
	"time"
)

// Controller is the part of the proxy the console reads and steers. The
// proxy implements it; every method must be safe for concurrent use, since
// several admin sessions may run at once.
type Controller interface {
	// Pools describes each (database, login) backend pool.
	Pools() []PoolInfo
	// Clients describes each client session.
	Clients() []ClientInfo
	// Servers describes each backend connection.
	Servers() []ServerInfo
	// Stats returns the counters per database.
	Stats() []StatsInfo
	// Config returns the effective settings as key, value pairs. The proxy
	// leaves out secrets; the console prints what it gets.
	Config() [][2]string
	// Security returns the posture checks as rows of check, status, detail
	// and recommendation.
	Security() [][]string
	// Pause stops handing out backend connections for database ("" means
	// every database) and returns once no transaction runs there, or with
	// ctx's error.
	Pause(ctx context.Context, database string) error
	// Resume undoes Pause for database ("" means every database).
	Resume(database string) error
	// Reload re-reads the configuration.
	Reload(ctx context.Context) error
	// Kill ends every session of identity now and returns how many it ended.
	Kill(identity string) (int, error)
	// Shutdown starts the proxy's graceful shutdown and returns without
	// waiting for it.
	Shutdown() error
	// RotateCredentials rotates the backend login credentials now.
	RotateCredentials(ctx context.Context) error
}

// PoolInfo describes one backend pool, a row of SHOW POOLS.
type PoolInfo struct {
	// Database is the database the pool serves.
	Database string
	// User is the backend login the pool's connections use.
	User string
	// Mode is the pooling mode, such as "session" or "transaction".
	Mode string
	// Size is the number of backend connections, in use or idle.
	Size int
	// Active is the number of connections attached to a client.
	Active int
	// Idle is the number of connections waiting in the pool.
	Idle int
	// Waiting is the number of clients queued for a connection.
	Waiting int
	// MaxWait is how long the longest-waiting client has waited; zero when
	// nobody waits.
	MaxWait time.Duration
}

// ClientState is what a client session is doing.
type ClientState string

// The client states the proxy reports.
const (
	ClientActive            ClientState = "active"
	ClientIdle              ClientState = "idle"
	ClientWaiting           ClientState = "waiting"
	ClientIdleInTransaction ClientState = "idle in transaction"
)

// ClientInfo describes one client session, a row of SHOW CLIENTS.
type ClientInfo struct {
	// SessionID is the proxy's number for the session.
	SessionID int64
	// Identity is the client's certificate identity.
	Identity string
	// Role is the database role the identity maps to.
	Role string
	// Database is the database the client opened.
	Database string
	// Addr is the client's address, host:port.
	Addr string
	// TLSVersion is the negotiated crypto/tls version; zero (NULL in the
	// output) means the session is not on TLS.
	TLSVersion uint16
	// State is what the session is doing now.
	State ClientState
	// Pinned reports that the session holds its backend connection beyond a
	// transaction (session state such as prepared statements or SET).
	Pinned bool
	// ConnectedAt is when the client connected.
	ConnectedAt time.Time
}

// ServerState is what a backend connection is doing.
type ServerState string

// The backend connection states the proxy reports.
const (
	ServerIdle   ServerState = "idle"
	ServerActive ServerState = "active"
)

// ServerInfo describes one backend connection, a row of SHOW SERVERS.
type ServerInfo struct {
	// PID is the backend's process id from BackendKeyData.
	PID uint32
	// Database is the database the connection is logged into.
	Database string
	// User is the backend login.
	User string
	// State is what the connection is doing now.
	State ServerState
	// SessionID is the client session the connection serves; zero (NULL in
	// the output) means none.
	SessionID int64
	// ConnectedAt is when the connection was opened.
	ConnectedAt time.Time
	// LastUsed is when a client last released the connection; zero (NULL)
	// means never.
	LastUsed time.Time
}

// StatsInfo holds the counters of one database, a row of SHOW STATS.
type StatsInfo struct {
	// Database the counters belong to.
	Database string
	// Transactions is the number of transactions completed.
	Transactions int64
	// Statements is the number of statements run.
	Statements int64
	// BytesIn is the number of bytes received from clients.
	BytesIn int64
	// BytesOut is the number of bytes sent to clients.
	BytesOut int64
	// AvgWait is the mean time a client waited for a backend connection.
	AvgWait time.Duration
	// Denied is the number of statements the firewall refused.
	Denied int64
}
