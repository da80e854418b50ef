package proxy

import "time"

// ClientInfo describes one client session, for SHOW CLIENTS.
type ClientInfo struct {
	ID, Identity, Role, Database, Addr string
	TLSVersion                         uint16
	// State is active (a connection attached and answering), idle in
	// transaction, idle, or waiting (for a connection).
	State       string
	Pinned      bool
	ConnectedAt time.Time
	// Pending is how many responses are outstanding (debugging aid).
	Pending int
}

// Clients reports every established session.
func (s *Server) Clients() []ClientInfo {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		list = append(list, sess)
	}
	s.mu.Unlock()
	out := make([]ClientInfo, 0, len(list))
	for _, sess := range list {
		sess.mu.Lock()
		if sess.grant == nil || sess.pool == nil {
			sess.mu.Unlock()
			continue
		}
		state := "idle"
		switch {
		case sess.attached != nil && len(sess.queue) > 0:
			state = "active"
		case sess.attached != nil && (sess.status == 'T' || sess.status == 'E'):
			state = "idle in transaction"
		case sess.waiting:
			state = "waiting"
		}
		out = append(out, ClientInfo{ID: sess.id, Identity: sess.peer.Identity, Role: sess.grant.Rule.Role,
			Database: sess.grant.Database, Addr: sess.addr, TLSVersion: sess.peer.TLSVersion,
			State: state, Pinned: sess.pinned, ConnectedAt: sess.start, Pending: len(sess.queue)})
		sess.mu.Unlock()
	}
	return out
}
