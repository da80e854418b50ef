// Package firewall decides whether a SQL text a client sent may reach the
// backend.
//
// pgshield runs every client transaction under SET LOCAL ROLE and
// SET LOCAL pgshield.identity over a shared backend connection. PostgreSQL
// lets any session undo that (RESET ROLE, SET SESSION AUTHORIZATION,
// set_config('role', …), dynamic SQL, DO blocks …), so the proxy asks this
// package about every simple Query text and every Parse before forwarding it.
//
// A decision has two stages. A pure-Go lexer tokenises the text exactly the
// way PostgreSQL's scanner does (strings, E'…' escapes, dollar quotes, nested
// comments, quoted and U& identifiers) and looks for any word that could
// matter. Ordinary SELECT/INSERT/UPDATE/DELETE/CALL texts contain none and are
// allowed without allocating. Anything else is parsed with pg_query (the real
// PostgreSQL grammar) and every node of the tree is inspected. A text the
// parser rejects is denied if the lexer flagged it (fail closed) and otherwise
// allowed, because the backend will reject it too before running anything.
//
// The lexer assumes standard_conforming_strings=on and a client_encoding in
// which a backslash or quote byte is never part of a multi-byte character
// (UTF8). The firewall therefore denies statements that change either
// setting; the proxy must pin both in the startup packet.
package firewall
