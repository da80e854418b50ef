package auth

import (
	"fmt"
	"strings"

	"github.com/pgshield/pgshield/rolemap"
)

// Request is what a client asks for at start-up.
type Request struct {
	// Identity is the verified certificate identity.
	Identity string
	// Params are the startup parameters, user and database included.
	Params map[string]string
}

// Grant is an accepted request.
type Grant struct {
	Identity string
	User     string
	Database string
	Rule     *rolemap.Rule
	// Params are the filtered startup parameters to pass to the backend.
	Params map[string]string
}

// Reason names why a request was denied; stable strings for logs and metrics.
type Reason string

const (
	ReasonUnknownIdentity     Reason = "unknown_identity"
	ReasonUserNotAllowed      Reason = "user_not_allowed"
	ReasonDatabaseNotAllowed  Reason = "database_not_allowed"
	ReasonParameterNotAllowed Reason = "parameter_not_allowed"
	ReasonBadParameter        Reason = "bad_parameter"
	ReasonNoUser              Reason = "no_user"
)

// DeniedError is a refused request. Error() is safe to show the client.
type DeniedError struct {
	Reason  Reason
	Message string
}

func (e *DeniedError) Error() string { return e.Message }

func deny(r Reason, format string, args ...any) *DeniedError {
	return &DeniedError{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// Verifier authorizes start-up requests.
type Verifier interface {
	Authorize(req Request) (*Grant, error)
}

// Options configures New.
type Options struct {
	// Resolver maps identities to rules. Required.
	Resolver rolemap.Resolver
	// AllowSearchPath lets clients set search_path at start-up.
	AllowSearchPath bool
}

type verifier struct {
	resolver rolemap.Resolver
	allowed  map[string]bool
}

// passThrough are the startup parameters that cannot change who the session
// is or what it may do.
var passThrough = []string{"application_name", "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "extra_float_digits"}

// New returns a Verifier.
func New(opts Options) Verifier {
	v := &verifier{resolver: opts.Resolver, allowed: map[string]bool{}}
	for _, p := range passThrough {
		v.allowed[strings.ToLower(p)] = true
	}
	if opts.AllowSearchPath {
		v.allowed["search_path"] = true
	}
	return v
}

// maxParamLen is PostgreSQL's NAMEDATALEN-1 for names, generous for values.
const maxParamLen = 256

func (v *verifier) Authorize(req Request) (*Grant, error) {
	rule, ok := v.resolver.Resolve(req.Identity)
	if !ok {
		return nil, deny(ReasonUnknownIdentity, "certificate identity %q is not allowed to connect", req.Identity)
	}
	user := req.Params["user"]
	if user == "" {
		return nil, deny(ReasonNoUser, "no PostgreSQL user name specified in startup packet")
	}
	if !rule.AllowsUser(req.Identity, user) {
		return nil, deny(ReasonUserNotAllowed, "certificate identity %q may not connect as user %q", req.Identity, user)
	}
	db := req.Params["database"]
	if db == "" {
		db = user
	}
	if !rule.AllowsDatabase(db) {
		return nil, deny(ReasonDatabaseNotAllowed, "certificate identity %q may not use database %q", req.Identity, db)
	}
	params := map[string]string{}
	for k, val := range req.Params {
		if k == "user" || k == "database" {
			continue
		}
		if !v.allowed[strings.ToLower(k)] {
			return nil, deny(ReasonParameterNotAllowed, "startup parameter %q is not allowed through pgshield", k)
		}
		if len(val) > maxParamLen || strings.IndexFunc(val, isControl) >= 0 {
			return nil, deny(ReasonBadParameter, "startup parameter %q has an invalid value", k)
		}
		if strings.EqualFold(k, "client_encoding") && unsafeEncoding(val) {
			return nil, deny(ReasonBadParameter, "client_encoding %q is not allowed through pgshield (use UTF8)", val)
		}
		params[k] = val
	}
	return &Grant{Identity: req.Identity, User: user, Database: db, Rule: rule, Params: params}, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// unsafeEncoding reports client-only encodings whose multibyte characters
// can end in a quote or backslash byte: SQL text in them cannot be read
// safely by anything but the server, so the firewall would be blind.
func unsafeEncoding(enc string) bool {
	norm := strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(enc))
	switch norm {
	case "SJIS", "SHIFTJIS", "SHIFTJIS2004", "BIG5", "GBK", "GB18030", "UHC", "JOHAB", "WIN936", "WIN949", "WIN950", "CP936", "CP949", "CP950", "MSKANJI", "WIN932", "CP932":
		return true
	}
	return false
}
