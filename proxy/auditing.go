package proxy

import (
	"bytes"
	"strconv"
	"time"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/pgwire"
)

// codeAuditUnavailable: the audit log cannot be written, so statements are
// refused (fail closed) until it can.
const codeAuditUnavailable = "58030"

// auditRefusal is what the client sees then.
var auditRefusal = (&pgwire.Error{Severity: "ERROR", Code: codeAuditUnavailable,
	Message: "pgshield cannot write its audit log; the statement was not run"}).Encode()

// record appends r to the audit log with the session's fields filled in and
// waits until it is written per the log's mode. With no audit log it does
// nothing. The error is the log's: fail closed unless the log is
// configured to fail open, in which case it returns nil.
func (s *session) record(r *audit.Record) (uint64, error) {
	sink := s.srv.opts.Audit
	if sink == nil {
		return 0, nil
	}
	s.stamp(r)
	start := time.Now()
	seq, err := sink.Append(s.srv.ctx, r)
	m := s.srv.opts.Metrics
	if err != nil {
		m.AuditFailure()
		s.log.Error("audit log write failed; statement refused", "err", err)
		return 0, err
	}
	m.AuditWrite(time.Since(start))
	m.AuditRecord(string(r.Kind))
	return seq, nil
}

// recordAfter queues r, a record made after the fact (a statement's
// outcome), without waiting for the write: the client's answer is not held
// up by the log. A write that then fails makes the next statement's
// record fail, so nothing runs unrecorded.
func (s *session) recordAfter(r *audit.Record) {
	sink := s.srv.opts.Audit
	if sink == nil {
		return
	}
	s.stamp(r)
	m := s.srv.opts.Metrics
	if err := sink.Submit(s.srv.ctx, r); err != nil {
		m.AuditFailure()
		s.log.Error("audit log write failed", "kind", string(r.Kind), "err", err)
		return
	}
	m.AuditRecord(string(r.Kind))
}

// stamp fills in the session's fields of r.
func (s *session) stamp(r *audit.Record) {
	r.Session = s.id
	r.ClientAddr = s.addr
	r.Identity = s.peer.Identity
	r.Fingerprint = s.peer.Fingerprint
	if s.grant != nil {
		r.Role = s.grant.Rule.Role
		r.Database = s.grant.Database
	}
	if r.BackendPID == 0 {
		s.mu.Lock()
		if s.attached != nil {
			r.BackendPID = s.attached.PID
		}
		s.mu.Unlock()
	}
}

// commandRows returns the row count at the end of a CommandComplete tag
// ("SELECT 5", "INSERT 0 3"), or -1.
func commandRows(body []byte) int64 {
	tag := bytes.TrimRight(body, "\x00")
	i := bytes.LastIndexByte(tag, ' ')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(string(tag[i+1:]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
