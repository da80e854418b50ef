package credstore

import (
	"strings"
	"testing"
	"time"
)

func TestStatus(t *testing.T) {
	now := t0.Add(10 * 24 * time.Hour)
	act := NewCredential("app_a", 3, "pw-active-secret", t0)
	act.State, act.ActivatedAt = StateActive, t0.Add(time.Hour)
	ret := NewCredential("app_b", 2, "pw-retiring-secret", t0.Add(-30*24*time.Hour))
	ret.State = StateRetiring
	exp := NewCredential("app_a", 1, "", t0.Add(-60*24*time.Hour))
	exp.State = StateExpired
	st := State{Version: 7, UpdatedAt: now.Add(-5 * time.Minute), Credentials: []Credential{exp, ret, act},
		Rotation: &Rotation{Step: "alter_role", Login: "app_b", TargetVersion: 4, StartedAt: now.Add(-90 * time.Second)}}

	tests := []struct {
		name  string
		every time.Duration
		want  []string
	}{
		{"due later", 30 * 24 * time.Hour, []string{"in 20d1h"}},
		{"overdue", 7 * 24 * time.Hour, []string{"overdue by 2d23h"}},
		{"no schedule", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := Status(&b, st, now, tt.every); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			want := append([]string{
				"store version 7, updated 2026-03-11T11:55:00Z (5m0s ago)",
				`rotation in progress: login app_b, target version 4, last step "alter_role", started 1m30s ago`,
				"LOGIN", "NEXT ROTATION",
				"app_a  3        active",
				"app_b  2        retiring  40d0h",
				"app_a  1        expired   70d0h",
			}, tt.want...)
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "secret") {
				t.Errorf("status shows a password:\n%s", out)
			}
			// Rows sort by login, newest version first.
			if strings.Index(out, "app_a  3") > strings.Index(out, "app_a  1") {
				t.Errorf("rows out of order:\n%s", out)
			}
		})
	}
}
