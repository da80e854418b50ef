package security

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Render writes r for a person to read: a header with the level (and the
// policy verdict, if WithPolicy was applied), one line per check marked ✓
// or ⚠, then the recommendations, worst first. It returns the first write
// error.
func Render(w io.Writer, r Report) error {
	b := bufio.NewWriter(w)
	rule := strings.Repeat("═", 64)
	fmt.Fprintf(b, "%s\n pgshield security report\n%s\n", rule, rule)
	fmt.Fprintf(b, " Security level: %s\n", strings.ToUpper(r.Level.String()))
	if p := policyLine(r); p != "" {
		fmt.Fprintf(b, " %s\n", p)
	}
	b.WriteString("\n")

	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		mark := "✓"
		if !c.OK {
			mark = "⚠"
		}
		fmt.Fprintf(b, " %s %-*s  %s\n", mark, width, c.Name, c.Detail)
	}

	recs := recommendations(r)
	if len(recs) == 0 {
		b.WriteString("\n No recommendations: every check passes.\n")
	} else {
		b.WriteString("\n Recommendations:\n")
		for _, c := range recs {
			fmt.Fprintf(b, "  • [%s] %s: %s\n", c.Ceiling, c.Name, c.Recommendation)
		}
	}
	b.WriteString(rule + "\n")
	if err := b.Flush(); err != nil {
		return fmt.Errorf("security: render report: %w", err)
	}
	return nil
}

// recommendations returns the failing checks, lowest ceiling first, so the
// fix that raises the level most comes first; the sort is stable so equal
// ceilings keep the report's order.
func recommendations(r Report) []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK && c.Recommendation != "" {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b Check) int { return cmp.Compare(a.Ceiling, b.Ceiling) })
	return out
}

// policyLine describes the verdict; empty when no policy was applied.
func policyLine(r Report) string {
	policy := fmt.Sprintf("minimum %s, fallback %s", r.Minimum, r.Fallback)
	switch r.Verdict {
	case VerdictMet:
		return "Policy: " + policy + ": met"
	case VerdictWarned:
		return "⚠ Policy: " + policy + ": BELOW THE MINIMUM, running anyway"
	case VerdictAllowed:
		return "Policy: " + policy + ": below the minimum, allowed"
	case VerdictRefused:
		if !r.Minimum.Valid() || !r.Fallback.Valid() {
			return fmt.Sprintf("⚠ Policy: minimum %s, fallback %q: INVALID, refusing to run", r.Minimum, string(r.Fallback))
		}
		return "⚠ Policy: " + policy + ": BELOW THE MINIMUM, refusing to run"
	}
	return ""
}

// Columns are the column names of Rows, for the admin console's
// RowDescription.
func Columns() []string { return []string{"check", "status", "detail", "recommendation"} }

// Rows returns r as a result set with the columns of Columns: first a
// "level" row whose status is the level and whose detail is the policy
// verdict, if any, then one row per check with status "ok" or
// "warn (caps at <level>)".
func (r Report) Rows() [][]string {
	rows := make([][]string, 0, len(r.Checks)+1)
	rows = append(rows, []string{"level", r.Level.String(), policyLine(r), ""})
	for _, c := range r.Checks {
		status := "ok"
		if !c.OK {
			status = "warn (caps at " + c.Ceiling.String() + ")"
		}
		rows = append(rows, []string{c.Name, status, c.Detail, c.Recommendation})
	}
	return rows
}
