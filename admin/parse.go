package admin

import (
	"strings"
)

// token is a word of an admin command.
type token struct {
	// text is the word, or a quoted string's content without its quotes.
	text string
	// quoted reports that text came from '…' or "…"; a quoted token is never
	// taken as a keyword, so a database named "pause" stays a name.
	quoted bool
}

// statements splits query into its statements' tokens. Empty statements,
// such as the one a trailing ";" leaves, are dropped. Comments (-- and
// /* */, not nested) between words are skipped, since psql sends them along.
func statements(query string) ([][]token, error) {
	var (
		stmts [][]token
		cur   []token
	)
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			i += end
		case strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				return nil, syntaxError("unterminated /* comment")
			}
			i += 2 + end + 2
		case c == ';':
			if len(cur) > 0 {
				stmts = append(stmts, cur)
				cur = nil
			}
			i++
		case c == '\'' || c == '"':
			s, n, ok := quoted(query[i:])
			if !ok {
				return nil, syntaxError("unterminated quoted string")
			}
			cur = append(cur, token{text: s, quoted: true})
			i += n
		default:
			n := wordLen(query[i:])
			cur = append(cur, token{text: query[i : i+n]})
			i += n
		}
	}
	if len(cur) > 0 {
		stmts = append(stmts, cur)
	}
	return stmts, nil
}

// quoted reads the quoted string at the start of s, whose first byte is the
// quote character; a doubled quote inside stands for one, as in SQL. It
// returns the content and how many bytes of s it took.
func quoted(s string) (string, int, bool) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return "", 0, false
}

// wordLen returns the length of the unquoted word at the start of s. A word
// runs to whitespace, ";" or a quote, so identities such as
// spiffe://corp/alice need no quotes. Unlike SQL, "--" and "/*" inside a
// word do not start a comment: KILL alice--bob must not kill alice.
func wordLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\f', '\v', ';', '\'', '"':
			return i
		}
	}
	return len(s)
}

// parsed is a command matched against the command table.
type parsed struct {
	spec *commandSpec
	// arg is the command's argument; "" when it has none.
	arg string
}

// parse matches one statement's tokens against specs. Keywords are
// case-insensitive; arguments keep their case.
func parse(stmt []token, specs []commandSpec) (parsed, error) {
	for i := range specs {
		spec := &specs[i]
		kw := strings.Fields(spec.name)
		if !matchKeywords(stmt, kw) {
			continue
		}
		args := stmt[len(kw):]
		switch {
		case len(args) > 1 || (len(args) == 1 && spec.arg == noArg):
			return parsed{}, syntaxError("too many arguments to %s; usage: %s", spec.name, spec.usage())
		case len(args) == 0 && spec.arg == requiredArg:
			return parsed{}, syntaxError("%s needs %s; usage: %s", spec.name, spec.argName, spec.usage())
		case len(args) == 1 && args[0].text == "":
			// "" must not turn into "every database" or a blank identity.
			return parsed{}, syntaxError("%s: %s must not be empty", spec.name, spec.argName)
		case len(args) == 1:
			return parsed{spec: spec, arg: args[0].text}, nil
		}
		return parsed{spec: spec}, nil
	}
	e := syntaxError("unknown admin command %q; run SHOW HELP for the list", commandName(stmt))
	e.Hint = "SHOW HELP lists the admin commands."
	return parsed{}, e
}

func matchKeywords(stmt []token, kw []string) bool {
	if len(stmt) < len(kw) {
		return false
	}
	for i, k := range kw {
		if stmt[i].quoted || !strings.EqualFold(stmt[i].text, k) {
			return false
		}
	}
	return true
}

// maxEcho bounds how much of an unknown command the error repeats.
const maxEcho = 64

// commandName names an unknown command for its error: the first word, or the
// first two after SHOW.
func commandName(stmt []token) string {
	n := 1
	if len(stmt) > 1 && !stmt[0].quoted && strings.EqualFold(stmt[0].text, "SHOW") {
		n = 2
	}
	words := make([]string, n)
	for i := range n {
		words[i] = stmt[i].text
	}
	name := strings.Join(words, " ")
	if len(name) > maxEcho {
		name = name[:maxEcho] + "…"
	}
	return name
}
