package firewall

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// Config configures a Firewall. The zero value is valid.
type Config struct {
	// IdentitySetting is the custom GUC that carries the client's certificate
	// identity; clients may neither set nor reset it. It must be a dotted
	// custom setting name of plain identifier parts, e.g. "pgshield.identity".
	// Empty means "pgshield.identity". Matched case-insensitively, as the
	// server matches setting names.
	IdentitySetting string
	// ExtraDeniedFunctions are further function names (unqualified,
	// lower-case, e.g. "lo_import") whose calls are denied in any schema.
	// Nil means none.
	ExtraDeniedFunctions []string
	// CacheSize is the number of CheckParse verdicts kept, keyed by SQL text.
	// Zero means 1024; a negative value disables the cache.
	CacheSize int
}

// DefaultIdentitySetting is used when Config.IdentitySetting is empty.
const DefaultIdentitySetting = "pgshield.identity"

const defaultCacheSize = 1024

// Checker is what the proxy needs from a Firewall.
type Checker interface {
	// Check decides a simple Query text, which may hold several statements.
	Check(sql string) Verdict
	// CheckParse decides the text of an extended-protocol Parse.
	CheckParse(name, sql string) Verdict
}

var _ Checker = (*Firewall)(nil)

// Firewall decides whether SQL texts may run. It is safe for concurrent use;
// everything but the cache and the parse counter is immutable after New.
type Firewall struct {
	// identity is the lower-cased identity setting name.
	identity string
	// lex is the pre-filter word list.
	lex *lexicon
	// denied maps extra denied function names to RuleDeniedFunction.
	denied map[string]bool
	// cache holds CheckParse verdicts of texts that needed the parser; nil
	// when Config.CacheSize is negative. It has its own lock.
	cache *verdictCache
	// parses counts texts handed to pg_query, so tests can assert that the
	// fast path stayed fast.
	parses atomic.Uint64
}

// Verdict is the decision for one SQL text.
type Verdict struct {
	// Allowed is true when the text may be forwarded.
	Allowed bool
	// Rule is the stable rule id (a Rule… constant) when denied, else "".
	Rule string
	// Reason is a short client-safe message when denied, else "".
	Reason string
	// Statements is the number of non-empty statements in the text.
	Statements int
	// Session is what the text does that outlives a transaction. It is only
	// computed when the parser ran, which the pre-filter guarantees for
	// every statement that has such an effect.
	Session SessionEffects
	// TxControl records the transaction-control statements in the text.
	TxControl TxControl
	// Standalone is set for statements PostgreSQL refuses inside a
	// transaction block or a pipeline (VACUUM, CREATE INDEX CONCURRENTLY,
	// CREATE DATABASE …): the proxy must not open their transaction itself.
	// Only computed when the parser ran, which the pre-filter guarantees.
	Standalone bool
}

// Err returns nil for an allowed verdict and a *DeniedError otherwise.
func (v Verdict) Err() error {
	if v.Allowed {
		return nil
	}
	return &DeniedError{Rule: v.Rule, Reason: v.Reason}
}

// New validates cfg and builds a Firewall.
func New(cfg Config) (*Firewall, error) {
	identity := strings.ToLower(cfg.IdentitySetting)
	if identity == "" {
		identity = DefaultIdentitySetting
	}
	parts := strings.Split(identity, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("firewall: identity setting %q: %w", cfg.IdentitySetting,
			errors.New("a custom setting name needs a dot"))
	}
	for _, p := range parts {
		if err := checkName(p); err != nil {
			return nil, fmt.Errorf("firewall: identity setting %q: %w", cfg.IdentitySetting, err)
		}
	}
	denied := make(map[string]bool, len(cfg.ExtraDeniedFunctions))
	for _, fn := range cfg.ExtraDeniedFunctions {
		if err := checkName(fn); err != nil {
			return nil, fmt.Errorf("firewall: extra denied function %q: %w", fn, err)
		}
		if fn != strings.ToLower(fn) {
			return nil, fmt.Errorf("firewall: extra denied function %q: %w", fn,
				errors.New("must be lower-case"))
		}
		denied[fn] = true
	}
	size := cfg.CacheSize
	if size == 0 {
		size = defaultCacheSize
	}
	fw := &Firewall{
		identity: identity,
		lex:      newLexicon(identity, cfg.ExtraDeniedFunctions),
		denied:   denied,
	}
	if size > 0 {
		fw.cache = newVerdictCache(size)
	}
	return fw, nil
}

// checkName accepts a plain SQL identifier: what the pre-filter can match as
// one word, and short enough that the server does not truncate it.
func checkName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) >= maxWordLen {
		return fmt.Errorf("name longer than %d bytes", maxWordLen-1)
	}
	if !isIdentStart(s[0]) || s[0] >= 0x80 {
		return errors.New("name must start with a letter or underscore")
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isIdentCont(c) || c >= 0x80 || c == '$' {
			return errors.New("name must contain only letters, digits and underscores")
		}
	}
	return nil
}

// Check decides a simple Query text. The text may hold several statements;
// one denied statement denies the whole text, since the server would run the
// others in the same implicit transaction.
func (f *Firewall) Check(sql string) Verdict {
	flagged, n := f.lex.prefilter(sql)
	if !flagged {
		return Verdict{Allowed: true, Statements: n}
	}
	return f.decide(sql, n)
}

// CheckParse decides the text of a Parse message. The name does not change
// the decision (unnamed statements are checked the same way); verdicts of
// texts that needed the parser are cached by text, since drivers re-Parse the
// same few texts on every connection.
func (f *Firewall) CheckParse(name, sql string) Verdict {
	_ = name
	flagged, n := f.lex.prefilter(sql)
	if !flagged {
		return Verdict{Allowed: true, Statements: n}
	}
	if v, ok := f.cache.get(sql); ok {
		return v
	}
	v := f.decide(sql, n)
	f.cache.put(sql, v)
	return v
}

// decide runs the parser on a flagged text. lexStatements is the
// pre-filter's count, used when the parser cannot produce one.
func (f *Firewall) decide(sql string, lexStatements int) Verdict {
	f.parses.Add(1)
	if strings.IndexByte(sql, 0) >= 0 {
		return denied(RuleUnparseable, lexStatements)
	}
	v, err := f.decideParsed(sql)
	if err != nil {
		// Flagged and unparseable: we cannot tell what the server would
		// make of it, so fail closed.
		return denied(RuleUnparseable, lexStatements)
	}
	return v
}

func denied(rule string, statements int) Verdict {
	return Verdict{Rule: rule, Reason: reason(rule), Statements: statements}
}
