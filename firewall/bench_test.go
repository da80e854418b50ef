package firewall

import (
	"fmt"
	"strings"
	"testing"
)

// benchFast are ordinary statements that must stay on the fast path.
var benchFast = []string{
	"SELECT * FROM accounts WHERE id = $1",
	"INSERT INTO orders (account_id, amount, note) VALUES ($1, $2, $3) RETURNING id",
	"UPDATE accounts SET balance = balance - $1, updated_at = now() WHERE id = $2",
	"DELETE FROM sessions WHERE expires_at < now() - interval '1 day'",
	"SELECT a.id, sum(o.amount) FROM accounts a JOIN orders o ON o.account_id = a.id " +
		"WHERE a.created_at > $1 GROUP BY a.id HAVING sum(o.amount) > 100 ORDER BY 2 DESC LIMIT 50",
}

func benchName(s string) string {
	name, _, _ := strings.Cut(s, " ")
	return fmt.Sprintf("%s_%dB", strings.ToLower(name), len(s))
}

func BenchmarkCheckFast(b *testing.B) {
	fw := newTestFirewall(b, Config{})
	for _, sql := range benchFast {
		b.Run(benchName(sql), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !fw.Check(sql).Allowed {
					b.Fatal("denied")
				}
			}
		})
	}
}

// BenchmarkCheckParsed runs the same texts through the parser-based
// decision, the cost every text would pay without the pre-filter.
func BenchmarkCheckParsed(b *testing.B) {
	fw := newTestFirewall(b, Config{})
	for _, sql := range benchFast {
		b.Run(benchName(sql), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v, err := fw.decideParsed(sql); err != nil || !v.Allowed {
					b.Fatal(v, err)
				}
			}
		})
	}
}

func BenchmarkCheckFlagged(b *testing.B) {
	fw := newTestFirewall(b, Config{})
	for _, sql := range []string{"SET LOCAL app.tenant = '42'", "SELECT set_config('app.tenant', $1, true)"} {
		b.Run(benchName(sql), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fw.Check(sql)
			}
		})
		b.Run("cached_"+benchName(sql), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fw.CheckParse("", sql)
			}
		})
	}
}
