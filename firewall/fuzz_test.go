package firewall

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// FuzzCheck asserts that Check never panics and that the pre-filter never
// lets through a text the parser-based decision would deny, nor hides a
// session or transaction effect from the pooler.
func FuzzCheck(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	fw, err := New(Config{ExtraDeniedFunctions: []string{"lo_import"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		got := fw.Check(sql)
		ref, err := fw.decideParsed(sql)
		if err != nil {
			return // the server rejects it before running anything
		}
		if !ref.Allowed && got.Allowed {
			t.Fatalf("Check(%q) allowed, parser denies by %s", sql, ref.Rule)
		}
		if ref.Allowed && got.Allowed && (got.Session != ref.Session || got.TxControl != ref.TxControl) {
			t.Fatalf("Check(%q) effects %v/%v, parser %v/%v", sql, got.Session, got.TxControl,
				ref.Session, ref.TxControl)
		}
	})
}

func fuzzSeeds() []string {
	return []string{
		"SELECT * FROM accounts WHERE id = $1",
		"SET ROLE admin", "RESET/**/ROLE", "SET -- x\n ROLE a", `SET "role" TO x`,
		`SELECT U&"\0073et_config"('role','x',false)`, "SELECT pg_catalog.set_config('role','x',false)",
		"SELECT set_config(current_setting('x'), 'a', false)", "SELECT E'\\' ; SET ROLE x; --'",
		"SELECT $a$ $$ ; set role $a$", "UPDATE pg_settings SET setting = 'x'", "DO $$ begin end $$",
		"BEGIN; SELECT 1", "DECLARE c CURSOR WITH HOLD FOR SELECT 1", "LISTEN x", "CREATE TEMP TABLE t()",
		"SELECT pg_advisory_lock(1)", "PREPARE p AS SELECT 1", "DISCARD TEMP", "COPY t TO PROGRAM 'x'",
		"SELECT 1 /* /* */ SET ROLE x */", "UPDATE t SET a = 1", "SELECT t.dblink FROM t",
		"INSERT INTO t VALUES (1) ON CONFLICT DO UPDATE SET x = 1", "(SELECT 1)", "SELECT b'1', x'f', n'x'",
	}
}

// FuzzTokenizer compares the tokenizer with PostgreSQL's own scanner: every
// identifier or keyword the server sees must be a word (or quoted or U&
// identifier) with the same extent for the pre-filter. A mismatch means the
// two disagree on where a string or comment ends, which could hide a word.
func FuzzTokenizer(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	for _, s := range []string{`SELECT E'\\'' x`, "SELECT $a$ $b$ $a$ x", "SELECT a$$b", `SELECT "a""b" x`,
		"SELECT 1 /* /* */ */ x", "SELECT 1 -- \r x", `SELECT U&"a" UESCAPE '!'`, "SELECT b'1' x'f' n'x' e'\\\\' y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if strings.IndexByte(sql, 0) >= 0 {
			return // the C scanner would stop at the NUL
		}
		res, err := pg_query.Scan(sql)
		if err != nil {
			return
		}
		mine := make(map[int]token)
		tz := tokenizer{sql: sql}
		for tok := tz.next(); tok.kind != tokEOF; tok = tz.next() {
			mine[tok.start] = tok
		}
		for _, pt := range res.GetTokens() {
			if pt.GetKeywordKind() == pg_query.KeywordKind_NO_KEYWORD &&
				pt.GetToken() != pg_query.Token_IDENT && pt.GetToken() != pg_query.Token_UIDENT {
				continue
			}
			tok, ok := mine[int(pt.GetStart())]
			if !ok || tok.end != int(pt.GetEnd()) ||
				(tok.kind != tokWord && tok.kind != tokQuoted && tok.kind != tokUnicode) {
				t.Fatalf("%q: server word %q at %d..%d, tokenizer has %+v",
					sql, sql[pt.GetStart():pt.GetEnd()], pt.GetStart(), pt.GetEnd(), tok)
			}
		}
	})
}
