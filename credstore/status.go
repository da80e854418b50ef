package credstore

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// Status writes a human-readable table of st as of now: one row per
// credential with login, version, state, age and when the active one is
// due for rotation (rotateEvery after activation; 0 means no schedule, shown
// as "-"). It never writes a password.
func Status(w io.Writer, st State, now time.Time, rotateEvery time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	updated := "never"
	if !st.UpdatedAt.IsZero() {
		updated = st.UpdatedAt.UTC().Format(time.RFC3339) + " (" + since(now, st.UpdatedAt) + " ago)"
	}
	fmt.Fprintf(tw, "store version %d, updated %s\n", st.Version, updated)
	if r := st.Rotation; r != nil {
		fmt.Fprintf(tw, "rotation in progress: login %s, target version %d, last step %q, started %s ago\n",
			r.Login, r.TargetVersion, r.Step, since(now, r.StartedAt))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "LOGIN\tVERSION\tSTATE\tAGE\tNEXT ROTATION")
	creds := append([]Credential(nil), st.Credentials...)
	sort.Slice(creds, func(i, j int) bool {
		if creds[i].Login != creds[j].Login {
			return creds[i].Login < creds[j].Login
		}
		return creds[i].Version > creds[j].Version
	})
	for _, c := range creds {
		next := "-"
		if c.State == StateActive && rotateEvery > 0 && !c.ActivatedAt.IsZero() {
			due := c.ActivatedAt.Add(rotateEvery)
			if due.After(now) {
				next = "in " + since(due, now)
			} else {
				next = "overdue by " + since(now, due)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", c.Login, c.Version, c.State, since(now, c.CreatedAt), next)
	}
	return tw.Flush()
}

// since formats now-t compactly: "3d4h", "5h12m", "42s".
func since(now, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
