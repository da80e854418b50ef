package firewall

import "testing"

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero value", Config{}, true},
		{"custom identity", Config{IdentitySetting: "App.User_ID"}, true},
		{"identity without dot", Config{IdentitySetting: "identity"}, false},
		{"identity empty part", Config{IdentitySetting: "pgshield."}, false},
		{"identity with quote", Config{IdentitySetting: `a."b"`}, false},
		{"identity too long", Config{IdentitySetting: "a." + string(make([]byte, 70))}, false},
		{"extra functions", Config{ExtraDeniedFunctions: []string{"lo_import", "pg_read_file"}}, true},
		{"extra upper-case", Config{ExtraDeniedFunctions: []string{"Lo_Import"}}, false},
		{"extra qualified", Config{ExtraDeniedFunctions: []string{"pg_catalog.lo_import"}}, false},
		{"extra empty", Config{ExtraDeniedFunctions: []string{""}}, false},
		{"cache disabled", Config{CacheSize: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New() error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestCustomIdentity checks that the configured setting, not the default,
// is protected, in any case and through the pre-filter.
func TestCustomIdentity(t *testing.T) {
	fw := newTestFirewall(t, Config{IdentitySetting: "App.User_ID"})
	tests := []struct {
		sql  string
		rule string
	}{
		{"SET app.user_id = 'x'", RuleIdentitySetting},
		{`SET "APP"."USER_ID" = 'x'`, RuleIdentitySetting},
		{"SELECT set_config('app.user_id', 'x', true)", RuleIdentitySetting},
		{"ALTER ROLE r SET app.user_id = 'x'", RuleAlterRoleSet},
		{"SET LOCAL pgshield.identity = 'x'", ""},
	}
	for _, tt := range tests {
		v := fw.Check(tt.sql)
		if v.Rule != tt.rule || v.Allowed != (tt.rule == "") {
			t.Errorf("Check(%q) = %+v, want rule %q", tt.sql, v, tt.rule)
		}
	}
}
