package edge

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{"cidrs and bare ips", []string{"10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::1"},
			[]string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128"}, ""},
		{"mapped v4 becomes v4", []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.1"},
			[]string{"10.0.0.0/8", "192.0.2.1/32"}, ""},
		{"empty list", nil, []string{}, ""},
		{"host bits", []string{"10.0.0.1/8"}, nil, "did you mean 10.0.0.0/8"},
		{"bad bits", []string{"10.0.0.0/33"}, nil, "not a CIDR"},
		{"not an ip", []string{"db.example.com"}, nil, "not an IP address or CIDR"},
		{"empty entry", []string{""}, nil, "empty entry"},
		{"zone", []string{"fe80::1%eth0"}, nil, "zoned"},
		{"reports every bad entry", []string{"x", "10.0.0.0/8", "y"}, nil, `entry 2 "y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrefixes(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i].String() != tt.want[i] {
					t.Errorf("[%d] = %s, want %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestAllowList(t *testing.T) {
	mustParse := func(s ...string) []netip.Prefix {
		p, err := ParsePrefixes(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	al, err := NewAllowList(map[string][]netip.Prefix{
		"app-*":    mustParse("10.1.0.0/16", "2001:db8:1::/48"),
		"admin":    mustParse("192.0.2.7", "2001:db8::7"),
		"anywhere": nil,
		"empty":    {},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pattern, addr string
		want          bool
	}{
		{"app-*", "10.1.2.3", true},
		{"app-*", "10.2.0.1", false},
		{"app-*", "::ffff:10.1.2.3", true}, // dual-stack socket view of an IPv4 client
		{"app-*", "2001:db8:1:ffff::1", true},
		{"app-*", "2001:db8:2::1", false},
		{"admin", "192.0.2.7", true},
		{"admin", "192.0.2.8", false},
		{"admin", "2001:db8::7", true},
		{"admin", "2001:db8::7%eth0", true},
		{"admin", "2001:db8::8", false},
		{"anywhere", "203.0.113.1", true},
		{"anywhere", "2001:db8::1", true},
		{"empty", "203.0.113.1", true},
		{"unknown", "10.1.2.3", false},
		{"APP-*", "10.1.2.3", false}, // exact pattern match
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.addr, func(t *testing.T) {
			if got := al.Allowed(tt.pattern, netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Allowed = %v, want %v", got, tt.want)
			}
		})
	}
	if al.Allowed("anywhere", netip.Addr{}) {
		t.Error("invalid address allowed")
	}
	var zero AllowList
	if zero.Allowed("anywhere", netip.MustParseAddr("10.0.0.1")) {
		t.Error("zero AllowList admitted someone")
	}
	var nilList *AllowList
	if nilList.Allowed("anywhere", netip.MustParseAddr("10.0.0.1")) {
		t.Error("nil AllowList admitted someone")
	}
}

func TestNewAllowListRejectsInvalidPrefix(t *testing.T) {
	tests := map[string]netip.Prefix{
		"invalid":      {},
		"short mapped": netip.MustParsePrefix("::ffff:10.0.0.0/80"),
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewAllowList(map[string][]netip.Prefix{"x": {p}})
			if err == nil || !strings.Contains(err.Error(), `"x"`) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
