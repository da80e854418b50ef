package firewall

import (
	"fmt"
	"sync"
	"testing"
)

func TestCheckParseCache(t *testing.T) {
	tests := []struct {
		name       string
		cacheSize  int
		texts      []string
		wantParses uint64
		wantLen    int
	}{
		{"repeat is cached", 0, []string{"SET work_mem = 1", "SET work_mem = 1", "SET work_mem = 1"}, 1, 1},
		{"denied verdicts are cached", 0, []string{"RESET ROLE", "RESET ROLE"}, 1, 1},
		{"fast path is not cached", 0, []string{"SELECT 1", "SELECT 1"}, 0, 0},
		{"lru evicts oldest", 2, []string{"SET a.b = 1", "SET a.b = 2", "SET a.b = 3", "SET a.b = 1"}, 4, 2},
		{"lru keeps recently used", 2, []string{"SET a.b = 1", "SET a.b = 2", "SET a.b = 1", "SET a.b = 3", "SET a.b = 1"}, 3, 2},
		{"disabled", -1, []string{"SET work_mem = 1", "SET work_mem = 1"}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := newTestFirewall(t, Config{CacheSize: tt.cacheSize})
			var first Verdict
			for i, sql := range tt.texts {
				v := fw.CheckParse(fmt.Sprint("s", i), sql)
				if i == 0 {
					first = v
				} else if sql == tt.texts[0] && v != first {
					t.Errorf("cached verdict %+v differs from %+v", v, first)
				}
			}
			if got := fw.parses.Load(); got != tt.wantParses {
				t.Errorf("parses = %d, want %d", got, tt.wantParses)
			}
			if got := fw.cache.len(); got != tt.wantLen {
				t.Errorf("cache len = %d, want %d", got, tt.wantLen)
			}
		})
	}
}

func TestCacheSkipsHugeTexts(t *testing.T) {
	fw := newTestFirewall(t, Config{})
	sql := "SET application_name = '" + string(make([]byte, 0, 1)) + fmt.Sprintf("%0*d", maxCachedText, 0) + "'"
	fw.CheckParse("", sql)
	if n := fw.cache.len(); n != 0 {
		t.Errorf("cache len = %d, want 0 for a %d-byte text", n, len(sql))
	}
}

// TestConcurrentCheck is for -race: one Firewall shared by many sessions.
func TestConcurrentCheck(t *testing.T) {
	fw := newTestFirewall(t, Config{CacheSize: 4})
	texts := []string{"SELECT 1", "SET ROLE x", "SET a.b = 1", "SET a.b = 2", "BEGIN",
		"SELECT set_config('app.x', '1', true)", "SET a.b = 3", "LISTEN c"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				sql := texts[(g+i)%len(texts)]
				if v, w := fw.CheckParse("", sql), fw.Check(sql); v != w {
					t.Errorf("%q: CheckParse %+v != Check %+v", sql, v, w)
					return
				}
			}
		}()
	}
	wg.Wait()
}
