package proxy

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ServerInfo describes one backend connection, for SHOW SERVERS.
type ServerInfo struct {
	PID                 uint32
	Database, Role      string
	Active              bool
	Session             string
	CreatedAt, LastUsed time.Time
}

// Servers reports every backend connection of every pool.
func (s *Server) Servers() []ServerInfo {
	var out []ServerInfo
	for _, p := range s.poolList() {
		p.mu.Lock()
		for bc := range p.busy {
			out = append(out, ServerInfo{PID: bc.PID, Database: p.key.database, Role: p.key.role, Active: true,
				Session: bc.attachedTo, CreatedAt: bc.createdAt, LastUsed: bc.lastUsed})
		}
		for _, bc := range p.idle {
			out = append(out, ServerInfo{PID: bc.PID, Database: p.key.database, Role: p.key.role,
				CreatedAt: bc.createdAt, LastUsed: bc.lastUsed})
		}
		p.mu.Unlock()
	}
	return out
}

func (s *Server) poolList() []*pool {
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	out := make([]*pool, 0, len(s.pools))
	for _, p := range s.pools {
		out = append(out, p)
	}
	return out
}

// PoolCounters are a pool's running totals, for SHOW STATS.
type PoolCounters struct {
	Database, Role                   string
	Transactions, Statements, Denied int64
}

// poolCounters are updated by sessions, lock-free.
type poolCounters struct {
	transactions, statements, denied atomic.Int64
}

// Stats reports each pool's totals.
func (s *Server) Stats() []PoolCounters {
	var out []PoolCounters
	for _, p := range s.poolList() {
		out = append(out, PoolCounters{Database: p.key.database, Role: p.key.role,
			Transactions: p.counters.transactions.Load(), Statements: p.counters.statements.Load(), Denied: p.counters.denied.Load()})
	}
	return out
}

// Kill ends every session of identity at once with 57P01 (incident
// response: a compromised certificate). It returns how many it ended.
func (s *Server) Kill(identity string) int {
	s.mu.Lock()
	var list []*session
	for sess := range s.sessions {
		if sess.peer.Identity == identity {
			list = append(list, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range list {
		sess.log.Warn("session killed by an administrator")
		sess.end(fatal(codeAdminShutdown, "terminating connection due to administrator command (pgshield KILL)"))
	}
	return len(list)
}

// Pause stops handing out connections for database ("" = all) and waits
// until none is in use, so no transaction runs; Resume undoes it.
func (s *Server) Pause(ctx context.Context, database string) error {
	pools := s.matchPools(database)
	if len(pools) == 0 && database != "" {
		return errors.New("no pool for database " + database)
	}
	for _, p := range pools {
		p.setPaused(true)
	}
	for {
		busy := 0
		for _, p := range pools {
			p.mu.Lock()
			busy += len(p.busy)
			p.mu.Unlock()
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Resume lets paused pools hand out connections again.
func (s *Server) Resume(database string) error {
	for _, p := range s.matchPools(database) {
		p.setPaused(false)
	}
	return nil
}

func (s *Server) matchPools(database string) []*pool {
	var out []*pool
	for _, p := range s.poolList() {
		if database == "" || p.key.database == database {
			out = append(out, p)
		}
	}
	return out
}

// RetireConnections makes every pool replace its connections: idle ones
// close now, busy ones when their transaction ends. Called when the
// backend login credentials are rotated, so the old login drains without
// a failed transaction.
func (s *Server) RetireConnections() {
	for _, p := range s.poolList() {
		p.retireAll()
	}
}
