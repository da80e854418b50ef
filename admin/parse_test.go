package admin

import (
	"slices"
	"testing"
)

func TestStatements(t *testing.T) {
	tests := []struct {
		query string
		want  [][]token
	}{
		{"", nil},
		{" ;; ", nil},
		{"SHOW POOLS", [][]token{{{text: "SHOW"}, {text: "POOLS"}}}},
		{"kill 'a b';", [][]token{{{text: "kill"}, {text: "a b", quoted: true}}}},
		{`KILL "x""y"`, [][]token{{{text: "KILL"}, {text: `x"y`, quoted: true}}}},
		{"KILL ''", [][]token{{{text: "KILL"}, {text: "", quoted: true}}}},
		{"a;b", [][]token{{{text: "a"}}, {{text: "b"}}}},
		{"a -- b; c\n d", [][]token{{{text: "a"}, {text: "d"}}}},
		{"a /* ; */b", [][]token{{{text: "a"}, {text: "b"}}}},
		// Comments start only between words, so an identity keeps its
		// dashes rather than losing its tail to a comment.
		{"KILL alice--bob", [][]token{{{text: "KILL"}, {text: "alice--bob"}}}},
		{"KILL spiffe://x/y", [][]token{{{text: "KILL"}, {text: "spiffe://x/y"}}}},
		{"KILL 'a;b'", [][]token{{{text: "KILL"}, {text: "a;b", quoted: true}}}},
	}
	for _, tt := range tests {
		got, err := statements(tt.query)
		if err != nil {
			t.Errorf("statements(%q): %v", tt.query, err)
			continue
		}
		if !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("statements(%q) = %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	specs := commandSpecs()
	tests := []struct {
		query    string
		wantName string
		wantArg  string
		wantErr  bool
	}{
		{"show pools", "SHOW POOLS", "", false},
		{"SHOW", "", "", true},
		{"pause", "PAUSE", "", false},
		{"PAUSE Sales", "PAUSE", "Sales", false},
		{"KILL", "", "", true},
		{"KILL \"KILL\"", "KILL", "KILL", false},
		{"SHUTDOWN now", "", "", true},
		{"SHOWPOOLS", "", "", true},
	}
	for _, tt := range tests {
		stmts, err := statements(tt.query)
		if err != nil || len(stmts) != 1 {
			t.Fatalf("statements(%q) = %v, %v", tt.query, stmts, err)
		}
		p, err := parse(stmts[0], specs)
		if (err != nil) != tt.wantErr {
			t.Errorf("parse(%q) error = %v, want error %v", tt.query, err, tt.wantErr)
			continue
		}
		if err == nil && (p.spec.name != tt.wantName || p.arg != tt.wantArg) {
			t.Errorf("parse(%q) = %s %q, want %s %q", tt.query, p.spec.name, p.arg, tt.wantName, tt.wantArg)
		}
	}
}

func TestCommandNameIsBounded(t *testing.T) {
	long := make([]byte, 500)
	for i := range long {
		long[i] = 'x'
	}
	name := commandName([]token{{text: string(long)}})
	if len(name) > maxEcho+len("…") {
		t.Errorf("commandName kept %d bytes", len(name))
	}
}
