package firewall

import "strings"

// tokKind is the class of a token, as coarse as the pre-filter needs.
type tokKind uint8

const (
	tokEOF       tokKind = iota
	tokWord              // unquoted identifier or keyword
	tokQuoted            // "quoted identifier", quotes included
	tokUnicode           // U&'…' string or U&"…" identifier
	tokString            // any other string literal, dollar quotes included
	tokNumber            // the digits of a number
	tokParam             // $n
	tokSemicolon         // ;
	tokOpen              // (
	tokClose             // )
	tokNUL               // a NUL byte
	tokOther             // any other byte: operators, punctuation
)

// token is sql[start:end] of one kind.
type token struct {
	kind       tokKind
	start, end int
}

// tokenizer splits SQL text the way PostgreSQL's scanner (scan.l) does,
// skipping whitespace and comments. It only has to agree with the server on
// where strings, comments and identifiers begin and end; operators and
// numbers are split more finely, which cannot hide anything. It assumes
// standard_conforming_strings=on.
type tokenizer struct {
	sql string
	pos int // offset of the next unread byte
}

func (t *tokenizer) next() token {
	sql, n := t.sql, len(t.sql)
	i := t.pos
	for i < n {
		switch c := sql[i]; {
		case isSpace(c):
			i++
		case c == '-' && i+1 < n && sql[i+1] == '-':
			i = skipLineComment(sql, i+2)
		case c == '/' && i+1 < n && sql[i+1] == '*':
			i = skipBlockComment(sql, i+2)
		default:
			tok := t.token(i)
			t.pos = tok.end
			return tok
		}
	}
	t.pos = n
	return token{kind: tokEOF, start: n, end: n}
}

// token reads the token that starts at i, which is not blank or a comment.
func (t *tokenizer) token(i int) token {
	sql, n := t.sql, len(t.sql)
	c := sql[i]
	switch {
	case c == ';':
		return token{tokSemicolon, i, i + 1}
	case c == '(':
		return token{tokOpen, i, i + 1}
	case c == ')':
		return token{tokClose, i, i + 1}
	case c == 0:
		return token{tokNUL, i, i + 1}
	case c == '\'':
		return token{tokString, i, skipString(sql, i+1, false)}
	case c == '"':
		return token{tokQuoted, i, skipQuotedIdent(sql, i+1)}
	case c == '$':
		j, param := skipDollar(sql, i)
		switch {
		case param:
			return token{tokParam, i, j}
		case j == i+1:
			return token{tokOther, i, j}
		}
		return token{tokString, i, j}
	case isIdentStart(c):
		j := i + 1
		for j < n && isIdentCont(sql[j]) {
			j++
		}
		if j-i == 1 && j < n {
			if k, kind := stringPrefix(sql, i, j); kind != tokEOF {
				return token{kind, i, k}
			}
		}
		return token{tokWord, i, j}
	case '0' <= c && c <= '9':
		// Only the digits: letters glued to a number are read as a word, so
		// "1e'…'" is an E'…' string as older servers read it (newer ones
		// reject the text).
		j := i + 1
		for j < n && '0' <= sql[j] && sql[j] <= '9' {
			j++
		}
		return token{tokNumber, i, j}
	}
	return token{tokOther, i, i + 1}
}

// stringPrefix handles a one-letter word at sql[i:j] that prefixes a quote:
// E'…', B'…', X'…', U&'…' and U&"…". It returns the index after the
// literal and its kind, or tokEOF if the letter is just a word.
func stringPrefix(sql string, i, j int) (next int, kind tokKind) {
	c := sql[i] | 0x20
	switch {
	case sql[j] == '\'' && c == 'e':
		return skipString(sql, j+1, true), tokString
	case sql[j] == '\'' && (c == 'b' || c == 'x'):
		// N'…' is not here: the server reads the N as the keyword NCHAR and
		// the rest as a plain string, and so do we.
		return skipString(sql, j+1, false), tokString
	case c == 'u' && sql[j] == '&' && j+1 < len(sql) && sql[j+1] == '\'':
		return skipString(sql, j+2, false), tokUnicode
	case c == 'u' && sql[j] == '&' && j+1 < len(sql) && sql[j+1] == '"':
		return skipQuotedIdent(sql, j+2), tokUnicode
	}
	return j, tokEOF
}

// isSpace matches PostgreSQL's {space}, which includes \v since version 16.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// isIdentStart matches {ident_start}: every byte >= 0x80 counts as a letter.
func isIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

// isIdentCont matches {ident_cont}, which adds digits and '$'.
func isIdentCont(c byte) bool {
	return isIdentStart(c) || '0' <= c && c <= '9' || c == '$'
}

func skipLineComment(sql string, i int) int {
	for i < len(sql) && sql[i] != '\n' && sql[i] != '\r' {
		i++
	}
	return i
}

// skipBlockComment skips a /* */ comment whose opener ends before i.
// PostgreSQL comments nest.
func skipBlockComment(sql string, i int) int {
	for depth := 1; i < len(sql); {
		switch {
		case sql[i] == '/' && i+1 < len(sql) && sql[i+1] == '*':
			depth++
			i += 2
		case sql[i] == '*' && i+1 < len(sql) && sql[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(sql)
}

// skipString skips a quoted literal whose opening quote ends before i. A
// doubled quote is a quote inside every form; a backslash escapes the next
// byte only in E'…' strings (standard_conforming_strings is pinned on). An unterminated
// literal runs to the end, as the server would report it.
func skipString(sql string, i int, backslash bool) int {
	for i < len(sql) {
		switch sql[i] {
		case '\\':
			if backslash {
				i++
			}
		case '\'':
			if i+1 < len(sql) && sql[i+1] == '\'' {
				i++
				break
			}
			return i + 1
		}
		i++
	}
	return len(sql)
}

// skipQuotedIdent skips a "quoted identifier" whose opening quote ends
// before i; "" is an embedded quote.
func skipQuotedIdent(sql string, i int) int {
	for i < len(sql) {
		if sql[i] == '"' {
			if i+1 < len(sql) && sql[i+1] == '"' {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(sql)
}

// skipDollar handles a '$' at i: a parameter $n, a dollar-quoted string
// $tag$…$tag$, or a lone '$' (the server's dolqfailed rule), for which it
// returns i+1.
func skipDollar(sql string, i int) (next int, param bool) {
	j := i + 1
	if j < len(sql) && '0' <= sql[j] && sql[j] <= '9' {
		for j < len(sql) && '0' <= sql[j] && sql[j] <= '9' {
			j++
		}
		return j, true
	}
	if j < len(sql) && sql[j] != '$' {
		if !isIdentStart(sql[j]) {
			return j, false
		}
		for j < len(sql) && isIdentCont(sql[j]) && sql[j] != '$' {
			j++
		}
		if j == len(sql) || sql[j] != '$' {
			return i + 1, false
		}
	}
	if j >= len(sql) {
		return j, false
	}
	delim := sql[i : j+1]
	body := j + 1
	end := strings.Index(sql[body:], delim)
	if end < 0 {
		return len(sql), false
	}
	return body + end + len(delim), false
}
