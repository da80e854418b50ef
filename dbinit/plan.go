package dbinit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Default role names used when a plan leaves them empty.
const (
	DefaultAuthenticator = "pgshield_authenticator"
	DefaultNoAccessRole  = "pgshield_noaccess"
)

// Plan is the desired state of one database. It is decoded from YAML with
// snake_case keys; unknown keys are errors. Call Validate (LoadPlan does)
// before use.
type Plan struct {
	// Database is the database the plan applies to. Required.
	Database string `yaml:"database"`
	// Authenticator is the login role pgshield connects as. Empty means
	// DefaultAuthenticator.
	Authenticator string `yaml:"authenticator"`
	// NoAccessRole is the NOLOGIN role with no privileges that a new
	// authenticator session (and RESET ROLE) lands on. Empty means
	// DefaultNoAccessRole.
	NoAccessRole string `yaml:"noaccess_role"`
	// Schemas are created if missing; their ACLs are managed (PUBLIC gets
	// nothing, a role gets USAGE when it has a grant on an object in them).
	// The public schema need not be listed.
	Schemas []Schema `yaml:"schemas"`
	// Tables are the tables whose privileges the plan manages.
	Tables []Table `yaml:"tables"`
	// Roles are the mapped, least-privilege NOLOGIN roles.
	Roles []Role `yaml:"roles"`
}

// Schema is a schema the plan creates and manages.
type Schema struct {
	// Name of the schema. Required.
	Name string `yaml:"name"`
}

// Table is a table the plan manages.
type Table struct {
	// Name of the table. Required.
	Name string `yaml:"name"`
	// Schema holds the table; empty means public.
	Schema string `yaml:"schema"`
	// Columns is the SQL column list used to create the table when it does
	// not exist (it comes from the operator's plan file and is trusted as
	// such). Empty means the table must already exist.
	Columns string `yaml:"columns"`
	// RowLevelSecurity enables row-level security. false leaves the current
	// setting alone: silently disabling RLS would expose rows.
	RowLevelSecurity bool `yaml:"row_level_security"`
	// AppendOnly installs triggers that refuse UPDATE, DELETE and TRUNCATE
	// for everyone, owner included. false leaves existing triggers alone.
	AppendOnly bool `yaml:"append_only"`
}

// Role is a mapped role and its grants.
type Role struct {
	// Name of the role. Required.
	Name string `yaml:"name"`
	// Grants are everything the role may do; anything else it holds on a
	// managed object is revoked.
	Grants []Grant `yaml:"grants"`
}

// Grant is privileges on one object. Exactly one of Table and Sequence, or
// neither for a grant on the schema itself.
type Grant struct {
	// Schema of Table or Sequence (empty means public); alone, the schema
	// the grant is on.
	Schema string `yaml:"schema"`
	// Table is a table declared in Plan.Tables.
	Table string `yaml:"table"`
	// Sequence is a sequence in Schema.
	Sequence string `yaml:"sequence"`
	// Privileges, case-insensitive: select, insert, update, delete on a
	// table; usage, select, update on a sequence; usage on a schema.
	Privileges []string `yaml:"privileges"`
}

// Privileges allowed per object kind. Anything broader (TRUNCATE, TRIGGER,
// REFERENCES, CREATE) is not grantable through a plan: fail closed.
var (
	tablePrivs    = []string{"SELECT", "INSERT", "UPDATE", "DELETE"}
	sequencePrivs = []string{"USAGE", "SELECT", "UPDATE"}
	schemaPrivs   = []string{"USAGE"}
)

// LoadPlan reads, decodes and validates a plan file.
func LoadPlan(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dbinit: read plan: %w", err)
	}
	p, err := ParsePlan(b)
	if err != nil {
		return nil, fmt.Errorf("dbinit: plan %s: %w", path, err)
	}
	return p, nil
}

// ParsePlan decodes and validates a YAML plan.
func ParsePlan(b []byte) (*Plan, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var p Plan
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty plan")
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks the plan as a whole: names, privileges, and that every
// grant refers to a declared table and schema.
func (p *Plan) Validate() error {
	if err := checkName("database", p.Database); err != nil {
		return err
	}
	auth, noaccess := p.authenticator(), p.noAccessRole()
	seenRole := map[string]bool{}
	for _, r := range []string{auth, noaccess} {
		if err := checkRoleName(r); err != nil {
			return err
		}
		if seenRole[r] {
			return fmt.Errorf("authenticator and noaccess_role are both %q", r)
		}
		seenRole[r] = true
	}
	schemas := map[string]bool{"public": true}
	for _, s := range p.Schemas {
		if err := checkName("schema", s.Name); err != nil {
			return err
		}
		if strings.HasPrefix(s.Name, "pg_") {
			return fmt.Errorf("schema %q: names starting with pg_ are reserved", s.Name)
		}
		schemas[s.Name] = true
	}
	tables := map[string]bool{}
	for _, t := range p.Tables {
		if err := checkName("table", t.Name); err != nil {
			return err
		}
		key := qualify(t.Schema, t.Name)
		if !schemas[schemaOrPublic(t.Schema)] {
			return fmt.Errorf("table %s: schema %q is not declared in schemas", key, t.Schema)
		}
		if tables[key] {
			return fmt.Errorf("table %s declared twice", key)
		}
		tables[key] = true
	}
	for _, r := range p.Roles {
		if err := checkRoleName(r.Name); err != nil {
			return err
		}
		if seenRole[r.Name] {
			return fmt.Errorf("role %q declared twice (or is the authenticator or noaccess role)", r.Name)
		}
		seenRole[r.Name] = true
		for i, g := range r.Grants {
			if err := g.validate(schemas, tables); err != nil {
				return fmt.Errorf("role %s grant %d: %w", r.Name, i+1, err)
			}
		}
	}
	return nil
}

func (g Grant) validate(schemas, tables map[string]bool) error {
	if len(g.Privileges) == 0 {
		return errors.New("no privileges")
	}
	var allowed []string
	switch {
	case g.Table != "" && g.Sequence != "":
		return errors.New("both table and sequence set")
	case g.Table != "":
		if !tables[qualify(g.Schema, g.Table)] {
			return fmt.Errorf("table %s is not declared in tables", qualify(g.Schema, g.Table))
		}
		allowed = tablePrivs
	case g.Sequence != "":
		if err := checkName("sequence", g.Sequence); err != nil {
			return err
		}
		allowed = sequencePrivs
	default:
		if g.Schema == "" {
			return errors.New("none of table, sequence, schema set")
		}
		allowed = schemaPrivs
	}
	if !schemas[schemaOrPublic(g.Schema)] {
		return fmt.Errorf("schema %q is not declared in schemas", g.Schema)
	}
	for _, priv := range g.Privileges {
		if !slices.Contains(allowed, strings.ToUpper(priv)) {
			return fmt.Errorf("privilege %q not allowed here (allowed: %s)", priv, strings.ToLower(strings.Join(allowed, ", ")))
		}
	}
	return nil
}

func (p *Plan) authenticator() string { return orDefault(p.Authenticator, DefaultAuthenticator) }
func (p *Plan) noAccessRole() string  { return orDefault(p.NoAccessRole, DefaultNoAccessRole) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func schemaOrPublic(s string) string { return orDefault(s, "public") }

// qualify is the plan's key for an object: schema.name, schema defaulted.
func qualify(schema, name string) string { return schemaOrPublic(schema) + "." + name }

// checkName accepts any name PostgreSQL can hold: every identifier is quoted
// when it reaches SQL, so only length and control characters matter.
func checkName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s name is empty", kind)
	case len(name) > 63:
		return fmt.Errorf("%s name %q is longer than 63 bytes", kind, name)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%s name %q has a control character", kind, name)
	}
	return nil
}

// checkRoleName also refuses names PostgreSQL reserves or treats specially
// in GRANT and SET ROLE.
func checkRoleName(name string) error {
	if err := checkName("role", name); err != nil {
		return err
	}
	if strings.HasPrefix(name, "pg_") {
		return fmt.Errorf("role %q: names starting with pg_ are reserved", name)
	}
	switch strings.ToLower(name) {
	case "public", "none", "current_user", "session_user", "current_role":
		return fmt.Errorf("role name %q is reserved", name)
	}
	return nil
}
