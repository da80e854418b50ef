package rolemap

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/pgshield/pgshield/config"
)

// Rule is what one identity entry grants.
type Rule struct {
	// Pattern is the configured name: an exact identity or a glob.
	Pattern string
	// Role is the least-privilege role transactions run as.
	Role string
	// Users are the startup user names allowed; empty means the identity itself.
	Users []string
	// Databases the identity may use.
	Databases []string
	// ReadOnly runs transactions read-only.
	ReadOnly bool
}

// AllowsUser reports whether identity may connect with startup user name user.
func (r *Rule) AllowsUser(identity, user string) bool {
	if len(r.Users) == 0 {
		return user == identity
	}
	return slices.Contains(r.Users, user)
}

// AllowsDatabase reports whether the rule admits database db.
func (r *Rule) AllowsDatabase(db string) bool { return slices.Contains(r.Databases, db) }

// Resolver finds the rule for an identity.
type Resolver interface {
	// Resolve returns the rule for identity, or false when none matches.
	Resolve(identity string) (*Rule, bool)
}

type resolver struct {
	exact map[string]*Rule
	globs []*Rule
}

// New builds a Resolver and rejects rules that overlap: two entries that
// could both match the same identity.
func New(ids []config.Identity) (Resolver, error) {
	r := &resolver{exact: map[string]*Rule{}}
	var all []*Rule
	for _, id := range ids {
		rule := &Rule{Pattern: id.Name, Role: id.Role, Users: id.Users, Databases: id.Databases, ReadOnly: id.ReadOnly}
		if isGlob(id.Name) {
			if strings.Contains(id.Name, "[") || strings.Contains(id.Name, "\\") {
				return nil, fmt.Errorf("identity %q: only * and ? are allowed in identity globs", id.Name)
			}
			r.globs = append(r.globs, rule)
		} else {
			r.exact[id.Name] = rule
		}
		all = append(all, rule)
	}
	var errs []error
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if overlap(all[i].Pattern, all[j].Pattern) {
				errs = append(errs, fmt.Errorf("identities %q and %q overlap: one identity could match both", all[i].Pattern, all[j].Pattern))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *resolver) Resolve(identity string) (*Rule, bool) {
	if identity == "" {
		return nil, false
	}
	if rule, ok := r.exact[identity]; ok {
		return rule, true
	}
	for _, rule := range r.globs {
		if ok, _ := path.Match(rule.Pattern, identity); ok {
			return rule, true
		}
	}
	return nil, false
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// overlap reports whether some string matches both patterns built from
// literals, '?' (any one character) and '*' (any run).
func overlap(p, q string) bool {
	a, b := []rune(p), []rune(q)
	memo := map[[2]int]bool{}
	var ov func(i, j int) bool
	ov = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var res bool
		switch {
		case i == len(a) && j == len(b):
			res = true
		case i < len(a) && a[i] == '*':
			res = ov(i+1, j) || (j < len(b) && ov(i, j+1))
		case j < len(b) && b[j] == '*':
			res = ov(i, j+1) || (i < len(a) && ov(i+1, j))
		case i == len(a) || j == len(b):
			res = false
		default:
			res = (a[i] == '?' || b[j] == '?' || a[i] == b[j]) && ov(i+1, j+1)
		}
		memo[key] = res
		return res
	}
	return ov(0, 0)
}
