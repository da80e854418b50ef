package firewall

import "strings"

// wordClass says where a word makes the pre-filter hand a text to the parser.
type wordClass uint8

const (
	// anywhere: the word matters wherever it appears (role, set_config,
	// pg_settings, temp …).
	anywhere wordClass = iota + 1
	// atStart: the word only matters as the first word of a statement (or
	// after '('). Elsewhere it is ordinary DML syntax: UPDATE … SET,
	// ON CONFLICT DO, CASE … END, START WITH. No statement that can be nested
	// inside another (PREPARE … AS, EXPLAIN, WITH, CREATE RULE … DO) begins
	// with one of these words, so checking only statement starts keeps the
	// common UPDATE on the fast path without letting a SET through.
	atStart
)

// startWords begin statements that are denied or have session or
// transaction effects.
func startWords() []string {
	return []string{"set", "reset", "do", "begin", "start", "commit", "end", "rollback",
		"abort", "savepoint", "release", "prepare", "deallocate", "declare", "discard",
		"listen", "unlisten", "copy", "load", "alter", "vacuum", "cluster", "reindex"}
}

// anywhereWords matter in any position. "authorization" catches SET SESSION
// AUTHORIZATION; "hold" catches EXPLAIN DECLARE … WITH HOLD; "temp" and
// "function" catch CREATE statements, whose first word is not flagged;
// "concurrently", "database", "tablespace" and "subscription" catch the
// statements PostgreSQL runs only outside a transaction (Verdict.Standalone).
func anywhereWords() []string {
	return []string{"role", "authorization", "session_authorization", "function",
		"procedure", "temp", "temporary", "hold", "set_config", "pg_settings",
		"ts_stat", "ts_rewrite", "concurrently", "database", "tablespace", "subscription"}
}

// wordPrefixes flag every word that starts with one of them: function
// families (dblink_exec, pg_advisory_lock_shared …) and pg_temp_N schemas.
func wordPrefixes() []string {
	return []string{"dblink", "pg_advisory", "pg_try_advisory", "query_to_xml",
		"cursor_to_xml", "pg_temp", "__pgshield"}
}

// lexicon is the pre-filter's word list. It is built once by New and only
// read afterwards, so it needs no lock.
type lexicon struct {
	words    map[string]wordClass // lower-case word → where it matters
	prefixes []string             // lower-case prefixes, all shorter than maxWordLen
	// shapes is a cheap first check before the map: for a lower-case first
	// byte, bit n is set if some word of length n starts with it, and bit 0
	// if some prefix does. Most words of ordinary DML fail it.
	shapes [256]uint64
}

// maxWordLen bounds the stack buffer a word is lower-cased into. PostgreSQL
// truncates identifiers to 63 bytes, and New rejects longer configured names.
const maxWordLen = 64

func newLexicon(identity string, extra []string) *lexicon {
	lx := &lexicon{words: make(map[string]wordClass), prefixes: wordPrefixes()}
	for _, w := range startWords() {
		lx.words[w] = atStart
	}
	words := append(anywhereWords(), strings.Split(identity, ".")...)
	for _, w := range append(words, extra...) {
		lx.words[w] = anywhere
	}
	for w := range lx.words {
		lx.shapes[w[0]] |= 1 << len(w)
	}
	for _, p := range lx.prefixes {
		lx.shapes[p[0]] |= 1
	}
	return lx
}

// match reports whether word w (as written, any case) flags the text.
func (lx *lexicon) match(w string, stmtStart bool) bool {
	if len(w) == 0 {
		return false
	}
	shape := lx.shapes[lower(w[0])]
	if shape&1 == 0 && (len(w) >= maxWordLen || shape&(1<<len(w)) == 0) {
		return false
	}
	var buf [maxWordLen]byte
	n := min(len(w), len(buf))
	for i := range n {
		buf[i] = lower(w[i])
	}
	lw := buf[:n]
	if len(w) <= len(buf) {
		// The string(lw) conversion in a map index does not allocate.
		if cls, ok := lx.words[string(lw)]; ok && (cls == anywhere || stmtStart) {
			return true
		}
	}
	for _, p := range lx.prefixes {
		if len(lw) >= len(p) && string(lw[:len(p)]) == p {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// prefilter reports whether any token of sql could matter, plus the number
// of non-empty top-level statements. It never allocates.
func (lx *lexicon) prefilter(sql string) (flagged bool, statements int) {
	tz := tokenizer{sql: sql}
	stmtStart := true // the next token begins a statement (or follows '(')
	nonEmpty := false // the current top-level statement has a token
	depth := 0        // parenthesis depth; ';' inside parentheses does not split
	for {
		tok := tz.next()
		switch tok.kind {
		case tokEOF:
			if nonEmpty {
				statements++
			}
			return flagged, statements
		case tokSemicolon:
			if depth == 0 && nonEmpty {
				statements++
				nonEmpty = false
			}
			stmtStart = true
			continue
		case tokOpen:
			depth++
			nonEmpty = true
			stmtStart = true
			continue
		case tokClose:
			depth = max(depth-1, 0)
		case tokNUL, tokUnicode:
			// libpg_query and the backend stop at a NUL; refuse to guess.
			// U& escapes can spell any word.
			flagged = true
		case tokWord:
			flagged = flagged || lx.match(sql[tok.start:tok.end], stmtStart)
		case tokQuoted:
			// Compared undecoded: no word contains '"', so a name with ""
			// can only match through a prefix, which the undecoded form keeps.
			name := sql[tok.start+1 : tok.end]
			name = strings.TrimSuffix(name, `"`)
			flagged = flagged || lx.match(name, false)
		}
		nonEmpty = true
		stmtStart = false
	}
}
