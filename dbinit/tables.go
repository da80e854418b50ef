package dbinit

import (
	"context"
	"fmt"
	"slices"
)

// appendOnlyFunc is the trigger function append-only tables get, created in
// each such table's schema. It raises for every caller, the owner and
// superusers included; the triggers are ENABLE ALWAYS so that
// session_replication_role = replica does not skip them either.
const (
	appendOnlyFunc = "pgshield_append_only"
	appendOnlyBody = `
BEGIN
  RAISE EXCEPTION USING
    ERRCODE = 'insufficient_privilege',
    MESSAGE = format('%s on %I.%I is not allowed: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME);
END
`
	rowTrigger      = "pgshield_append_only_row"
	truncateTrigger = "pgshield_append_only_truncate"
	// pg_trigger.tgtype bits: ROW 1, BEFORE 2, DELETE 8, UPDATE 16, TRUNCATE 32.
	rowTriggerType      = 1 | 2 | 8 | 16
	truncateTriggerType = 2 | 32
)

// schemas creates the declared schemas that are missing.
func (r *run) schemas(ctx context.Context) error {
	for _, s := range r.plan.Schemas {
		rows, err := r.query(ctx, `SELECT 1 FROM pg_namespace WHERE nspname = $1`, s.Name)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			if err := r.exec(ctx, "create schema "+s.Name, "CREATE SCHEMA "+ident(s.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// tables creates missing tables that have columns, enables row-level
// security where asked and installs the append-only triggers.
func (r *run) tables(ctx context.Context) error {
	for _, t := range r.plan.Tables {
		q, label := qident(t.Schema, t.Name), qualify(t.Schema, t.Name)
		rows, err := r.query(ctx, `SELECT c.relkind, c.relrowsecurity FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
			schemaOrPublic(t.Schema), t.Name)
		if err != nil {
			return err
		}
		switch {
		case len(rows) == 0 && t.Columns == "":
			return fmt.Errorf("dbinit: table %s does not exist and the plan gives no columns to create it", label)
		case len(rows) == 0:
			if err := r.exec(ctx, "create table "+label, fmt.Sprintf("CREATE TABLE %s (%s)", q, t.Columns)); err != nil {
				return err
			}
			rows = [][]string{{"r", "f"}}
		case rows[0][0] != "r" && rows[0][0] != "p":
			return fmt.Errorf("dbinit: %s is not a table (relkind %s)", label, rows[0][0])
		}
		if t.RowLevelSecurity && rows[0][1] != "t" {
			if err := r.exec(ctx, "enable row-level security on "+label,
				fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", q)); err != nil {
				return err
			}
		}
		if t.AppendOnly {
			if err := r.appendOnly(ctx, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *run) appendOnly(ctx context.Context, t Table) error {
	schema := schemaOrPublic(t.Schema)
	fn := qident(schema, appendOnlyFunc)
	rows, err := r.query(ctx, `SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = $1 AND p.proname = $2 AND p.pronargs = 0`, schema, appendOnlyFunc)
	if err != nil {
		return err
	}
	if len(rows) == 0 || rows[0][0] != appendOnlyBody {
		stmt := fmt.Sprintf("CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $pgshield$%s$pgshield$",
			fn, appendOnlyBody)
		if err := r.exec(ctx, "create append-only trigger function "+schema+"."+appendOnlyFunc, stmt); err != nil {
			return err
		}
	}
	q, label := qident(t.Schema, t.Name), qualify(t.Schema, t.Name)
	triggers := []struct {
		name, when string
		tgtype     int
	}{
		{rowTrigger, "BEFORE UPDATE OR DELETE ON %s FOR EACH ROW", rowTriggerType},
		{truncateTrigger, "BEFORE TRUNCATE ON %s FOR EACH STATEMENT", truncateTriggerType},
	}
	for _, tr := range triggers {
		rows, err := r.query(ctx, `SELECT tgtype, tgenabled, tgfoid = $3::regprocedure FROM pg_trigger
			WHERE tgrelid = $1::regclass AND tgname = $2`, q, tr.name, fn+"()")
		if err != nil {
			return err
		}
		ok := len(rows) == 1 && rows[0][0] == fmt.Sprint(tr.tgtype) && rows[0][2] == "t"
		if len(rows) == 1 && !ok {
			if err := r.exec(ctx, fmt.Sprintf("replace trigger %s on %s", tr.name, label),
				fmt.Sprintf("DROP TRIGGER %s ON %s", ident(tr.name), q)); err != nil {
				return err
			}
		}
		if !ok {
			stmt := fmt.Sprintf("CREATE TRIGGER %s "+tr.when+" EXECUTE FUNCTION %s()", ident(tr.name), q, fn)
			if err := r.exec(ctx, fmt.Sprintf("make %s append-only (%s)", label, tr.name), stmt); err != nil {
				return err
			}
		}
		if !ok || rows[0][1] != "A" {
			if err := r.exec(ctx, fmt.Sprintf("fire %s on %s even for replication sessions", tr.name, label),
				fmt.Sprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s", q, ident(tr.name))); err != nil {
				return err
			}
		}
	}
	return nil
}

// sequenceACLs manages the sequences the plan names and those owned by the
// plan's tables. A role with INSERT on a table gets USAGE on the table's
// serial sequences, which nextval() needs; identity columns need nothing.
func (r *run) sequenceACLs(ctx context.Context) error {
	desired := map[string]map[string][]string{} // quoted sequence → role → privileges
	var order []string
	add := func(seq, role string, privs []string) {
		if desired[seq] == nil {
			desired[seq] = map[string][]string{}
			order = append(order, seq)
		}
		if role != "" {
			desired[seq][role] = mergePrivs(desired[seq][role], privs)
		}
	}
	for _, t := range r.plan.Tables {
		rows, err := r.query(ctx, `SELECT n.nspname, s.relname, d.deptype FROM pg_depend d
			JOIN pg_class s ON s.oid = d.objid JOIN pg_namespace n ON n.oid = s.relnamespace
			WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
			AND d.refobjid = $1::regclass AND s.relkind = 'S' AND d.deptype IN ('a', 'i') ORDER BY 1`,
			qident(t.Schema, t.Name))
		if err != nil {
			return err
		}
		for _, row := range rows {
			seq := qident(row[0], row[1])
			add(seq, "", nil)
			if row[2] != "a" {
				continue
			}
			for _, role := range r.plan.Roles {
				for _, g := range role.Grants {
					if g.Table != "" && qualify(g.Schema, g.Table) == qualify(t.Schema, t.Name) &&
						hasPriv(g.Privileges, "INSERT") {
						add(seq, role.Name, []string{"USAGE"})
					}
				}
			}
		}
	}
	for _, role := range r.plan.Roles {
		for _, g := range role.Grants {
			if g.Sequence != "" {
				add(qident(g.Schema, g.Sequence), role.Name, g.Privileges)
			}
		}
	}
	for _, seq := range order {
		tg := target{kind: "SEQUENCE", key: seq, sql: seq, label: "sequence " + seq}
		if err := r.convergeACL(ctx, tg, r.managedGrantees(), desired[seq]); err != nil {
			return err
		}
	}
	return nil
}

func hasPriv(privs []string, p string) bool { return slices.Contains(mergePrivs(nil, privs), p) }
