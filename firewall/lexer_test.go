package firewall

import "testing"

// TestPrefilter pins the tokeniser on the corners where a wrong idea of
// where a string or comment ends would hide a statement from the parser.
func TestPrefilter(t *testing.T) {
	lx := newLexicon(DefaultIdentitySetting, []string{"lo_import"})
	tests := []struct {
		sql        string
		flagged    bool
		statements int
	}{
		{"SELECT 1", false, 1},
		{"SELECT 1;SET ROLE x", true, 2},
		{"select 1; set work_mem = 1", true, 2},
		{"UPDATE t SET a = 1", false, 1},
		{"UPDATE t SET (a, b) = (1, 2)", false, 1},
		{"SELECT CASE WHEN a THEN b END, x END", false, 1},
		{"CREATE SEQUENCE s START WITH 1", false, 1},
		// Standard strings: a backslash is an ordinary character.
		{`SELECT '\' ; SET work_mem = 1; --'`, true, 2},
		// E strings: a backslash escapes the quote.
		{`SELECT E'\' ; SET ROLE x; --'`, false, 1},
		{`SELECT e'\\' ; SET ROLE x; --'`, true, 2},
		{`SELECT 'a''b; set role x'`, false, 1},
		{"SELECT 'a'\n'b; set role x'", false, 1},
		{"SELECT b'101', x'ff', n'set role'", false, 1},
		// A word ending in e is an identifier, not an E prefix.
		{`SELECT xe'\' ; SET ROLE x; --'`, true, 2},
		// Dollar quotes.
		{"SELECT $$ set role x $$", false, 1},
		{"SELECT $a$ $b$ set role $b$ $a$", false, 1},
		{"SELECT $a$ $$ ; set role $a$", false, 1},
		{"SELECT a$$b FROM t; SET ROLE x", true, 2},
		{"SELECT $1, $2 FROM t", false, 1},
		{"SELECT $1$$ set role $$", false, 1},
		{"SELECT $é$ set role $é$", false, 1},
		{"SELECT $ ; SET ROLE x", true, 2},
		// Comments nest; -- comments end at \r or \n.
		{"SELECT 1 /* /* */ SET ROLE x */", false, 1},
		{"SELECT 1 /* /* */ */ ; SET ROLE x", true, 2},
		{"SELECT 1 -- ; set role\r; SET ROLE x", true, 2},
		{"SELECT 1 +-- set role\n", false, 1},
		{"SELECT 1 */* set role */", false, 1},
		// Quoted and Unicode identifiers.
		{`SELECT "set role"`, false, 1},
		{`SELECT "role"`, true, 1},
		{`SELECT "ROLE"`, true, 1},
		{`SELECT "dblink""x"()`, true, 1},
		{`SELECT "a""b" FROM t`, false, 1},
		{`SELECT U&"\0072ole"`, true, 1},
		{`SELECT u&'x'`, true, 1},
		{`SELECT "lo_import"('x')`, true, 1},
		// Prefix families and the identity setting.
		{"SELECT dblink_connect('x')", true, 1},
		{"SELECT pg_advisory_unlock_all()", true, 1},
		{"SELECT pg_try_advisory_lock(1)", true, 1},
		{"SELECT query_to_xml_and_xmlschema('x', true, true, '')", true, 1},
		{"SELECT * FROM pg_temp_3.t", true, 1},
		{"SELECT current_setting('pgshield.identity')", false, 1},
		{"SHOW pgshield.identity", true, 1},
		// Statement starts: after ';' and '(' only.
		{"(SET ROLE x)", true, 1},
		{"SELECT 1; (SELECT 2); ; ", false, 2},
		{"SELECT f(a; b); SELECT 1", false, 2},
		{"SELECT 1\x00", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			flagged, n := lx.prefilter(tt.sql)
			if flagged != tt.flagged || n != tt.statements {
				t.Errorf("prefilter = (%v, %d), want (%v, %d)", flagged, n, tt.flagged, tt.statements)
			}
		})
	}
}

func TestPrefilterAllocs(t *testing.T) {
	fw := newTestFirewall(t, Config{})
	for _, sql := range benchFast {
		if n := testing.AllocsPerRun(100, func() { fw.Check(sql) }); n != 0 {
			t.Errorf("Check(%q) allocates %v times, want 0", sql, n)
		}
	}
}
