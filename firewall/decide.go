package firewall

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// decision accumulates the verdict while one parse tree is inspected. The
// first denial wins; later nodes are not visited.
type decision struct {
	fw *Firewall
	v  Verdict
}

func (d *decision) deny(rule string) {
	if d.v.Allowed {
		d.v.Allowed, d.v.Rule, d.v.Reason = false, rule, reason(rule)
	}
}

// decideParsed parses sql with the PostgreSQL grammar and inspects every
// statement. It does not consult the pre-filter, so the fuzz test can use it
// as the reference decision.
func (f *Firewall) decideParsed(sql string) (Verdict, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return Verdict{}, fmt.Errorf("firewall: parse: %w", err)
	}
	d := &decision{fw: f, v: Verdict{Allowed: true, Statements: len(tree.GetStmts())}}
	for _, raw := range tree.GetStmts() {
		d.statement(raw.GetStmt())
		d.walk(raw.GetStmt())
		if !d.v.Allowed {
			return d.v, nil
		}
	}
	// The proxy wraps each transaction in SET LOCAL ROLE; a COMMIT in the
	// middle of a text would run the statements after it outside that wrapper.
	if d.v.TxControl != 0 && d.v.Statements > 1 {
		d.deny(RuleTransactionControlMixed)
	}
	return d.v, nil
}

// statement applies the rules that concern a top-level statement as a whole.
// Nested expressions are the walker's job.
func (d *decision) statement(n *pg_query.Node) {
	switch s := n.GetNode().(type) {
	case *pg_query.Node_VariableSetStmt:
		d.variableSet(s.VariableSetStmt)
	case *pg_query.Node_DiscardStmt:
		if s.DiscardStmt.GetTarget() == pg_query.DiscardMode_DISCARD_ALL {
			d.deny(RuleDiscardAll)
		} else {
			d.v.Session |= DiscardSome
		}
	case *pg_query.Node_TransactionStmt:
		d.transaction(s.TransactionStmt)
	case *pg_query.Node_DoStmt:
		d.deny(RuleDoBlock)
	case *pg_query.Node_CreateFunctionStmt:
		d.deny(RuleCreateFunction)
	case *pg_query.Node_AlterFunctionStmt:
		d.deny(RuleAlterFunction)
	case *pg_query.Node_RenameStmt:
		d.alterRoutine(s.RenameStmt.GetRenameType())
	case *pg_query.Node_AlterOwnerStmt:
		d.alterRoutine(s.AlterOwnerStmt.GetObjectType())
	case *pg_query.Node_AlterObjectSchemaStmt:
		d.alterRoutine(s.AlterObjectSchemaStmt.GetObjectType())
	case *pg_query.Node_AlterObjectDependsStmt:
		d.alterRoutine(s.AlterObjectDependsStmt.GetObjectType())
	case *pg_query.Node_CopyStmt:
		if s.CopyStmt.GetIsProgram() {
			d.deny(RuleCopyProgram)
		}
		if s.CopyStmt.GetIsFrom() {
			d.settingsWrite(s.CopyStmt.GetRelation())
		}
	case *pg_query.Node_LoadStmt:
		d.deny(RuleLoad)
	case *pg_query.Node_AlterSystemStmt:
		d.deny(RuleAlterSystem)
	case *pg_query.Node_AlterRoleSetStmt:
		if d.guardedSetting(s.AlterRoleSetStmt.GetSetstmt()) {
			d.deny(RuleAlterRoleSet)
		}
	case *pg_query.Node_AlterDatabaseSetStmt:
		if d.guardedSetting(s.AlterDatabaseSetStmt.GetSetstmt()) {
			d.deny(RuleAlterDatabaseSet)
		}
	case *pg_query.Node_ListenStmt:
		d.v.Session |= Listen
	case *pg_query.Node_UnlistenStmt:
		d.v.Session |= Unlisten
	case *pg_query.Node_PrepareStmt:
		d.v.Session |= SQLPrepare
		d.reservedName(s.PrepareStmt.GetName())
	case *pg_query.Node_ExecuteStmt:
		d.reservedName(s.ExecuteStmt.GetName())
	case *pg_query.Node_DeallocateStmt:
		d.v.Session |= Deallocate
		d.reservedName(s.DeallocateStmt.GetName())
	case *pg_query.Node_VacuumStmt:
		d.v.Standalone = d.v.Standalone || s.VacuumStmt.GetIsVacuumcmd()
	case *pg_query.Node_IndexStmt:
		d.v.Standalone = d.v.Standalone || s.IndexStmt.GetConcurrent()
	case *pg_query.Node_DropStmt:
		d.v.Standalone = d.v.Standalone || s.DropStmt.GetConcurrent()
	case *pg_query.Node_ReindexStmt:
		r := s.ReindexStmt
		if r.GetKind() == pg_query.ReindexObjectType_REINDEX_OBJECT_SYSTEM ||
			r.GetKind() == pg_query.ReindexObjectType_REINDEX_OBJECT_DATABASE || hasOption(r.GetParams(), "concurrently") {
			d.v.Standalone = true
		}
	case *pg_query.Node_ClusterStmt:
		d.v.Standalone = d.v.Standalone || s.ClusterStmt.GetRelation() == nil
	case *pg_query.Node_CreatedbStmt, *pg_query.Node_DropdbStmt, *pg_query.Node_CreateTableSpaceStmt,
		*pg_query.Node_DropTableSpaceStmt, *pg_query.Node_CreateSubscriptionStmt,
		*pg_query.Node_AlterSubscriptionStmt, *pg_query.Node_DropSubscriptionStmt:
		d.v.Standalone = true
	}
}

// reservedName denies statement names in pgshield's own namespace: its
// enforcement statement and the connection names of clients' statements.
func (d *decision) reservedName(name string) {
	if strings.HasPrefix(strings.ToLower(name), "__pgshield") {
		d.deny(RuleReservedName)
	}
}

// hasOption reports whether a DefElem list names opt (VACUUM (…), REINDEX (…)).
func hasOption(params []*pg_query.Node, opt string) bool {
	for _, p := range params {
		if de := p.GetDefElem(); de != nil && strings.EqualFold(de.GetDefname(), opt) {
			return true
		}
	}
	return false
}

// alterRoutine denies ALTER FUNCTION/PROCEDURE/ROUTINE in the forms that do
// not produce an AlterFunctionStmt (RENAME, OWNER TO, SET SCHEMA, DEPENDS).
func (d *decision) alterRoutine(t pg_query.ObjectType) {
	switch t {
	case pg_query.ObjectType_OBJECT_FUNCTION, pg_query.ObjectType_OBJECT_PROCEDURE,
		pg_query.ObjectType_OBJECT_ROUTINE:
		d.deny(RuleAlterFunction)
	}
}

func (d *decision) transaction(t *pg_query.TransactionStmt) {
	if t.GetChain() {
		// COMMIT/ROLLBACK AND CHAIN opens the next transaction without the
		// proxy's SET LOCAL ROLE, i.e. as the authenticator.
		d.deny(RuleTransactionChain)
	}
	switch t.GetKind() {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
		d.v.TxControl |= Begin
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		d.v.TxControl |= Commit
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		d.v.TxControl |= Rollback
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		d.v.TxControl |= Savepoint
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		d.v.TxControl |= ReleaseSavepoint
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		d.v.TxControl |= RollbackToSavepoint
	case pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
		// A prepared transaction outlives the client's session and would
		// keep the mapped role's locks on the shared backend.
		d.v.TxControl |= TwoPhase
		d.deny(RulePrepareTransaction)
	default: // COMMIT PREPARED, ROLLBACK PREPARED
		d.v.TxControl |= TwoPhase
		d.v.Standalone = true
	}
}

// variableSet decides a top-level SET or RESET.
func (d *decision) variableSet(s *pg_query.VariableSetStmt) {
	kind := s.GetKind()
	name := strings.ToLower(s.GetName())
	switch {
	case kind == pg_query.VariableSetKind_VAR_RESET_ALL:
		// RESET ALL resets role and session_authorization too.
		d.deny(RuleResetAll)
		return
	case kind == pg_query.VariableSetKind_VAR_SET_MULTI:
		// SET TRANSACTION … is transaction-local; SET SESSION
		// CHARACTERISTICS changes the session default.
		if name != "transaction" && name != "transaction snapshot" {
			d.v.Session |= SessionSet
		}
		return
	}
	if rule := d.settingRule(name); rule != "" && !d.harmlessValue(name, s) {
		d.deny(rule)
		return
	}
	if kind == pg_query.VariableSetKind_VAR_RESET || !s.GetIsLocal() {
		d.v.Session |= SessionSet
	}
}

// settingRule returns the rule that guards a setting name, or "" for a
// setting clients may change. name must be lower-case.
func (d *decision) settingRule(name string) string {
	switch normSetting(name) {
	case "role":
		return RuleSetRole
	case "session_authorization":
		return RuleSessionAuthorization
	case d.fw.identity:
		return RuleIdentitySetting
	case "standard_conforming_strings":
		return RuleStandardConformingStrings
	case "client_encoding":
		return RuleClientEncoding
	}
	return ""
}

// harmlessValue allows the lexer-safety settings to be set to the values the
// lexer assumes, or reset to the server default the proxy pinned.
func (d *decision) harmlessValue(name string, s *pg_query.VariableSetStmt) bool {
	switch s.GetKind() {
	case pg_query.VariableSetKind_VAR_RESET, pg_query.VariableSetKind_VAR_SET_DEFAULT:
		return name == "standard_conforming_strings" || name == "client_encoding"
	case pg_query.VariableSetKind_VAR_SET_VALUE:
	default:
		return false
	}
	if len(s.GetArgs()) != 1 {
		return false
	}
	val, ok := constText(s.GetArgs()[0])
	if !ok {
		return false
	}
	return safeValue(name, val)
}

func safeValue(name, val string) bool {
	val = strings.ToLower(strings.TrimSpace(val))
	switch name {
	case "standard_conforming_strings":
		return val == "on" || val == "true" || val == "yes" || val == "1"
	case "client_encoding":
		return val == "utf8" || val == "utf-8" || val == "unicode"
	}
	return false
}

// guardedSetting reports whether an ALTER ROLE/DATABASE … SET/RESET touches a
// setting clients may not change. RESET ALL there only drops stored defaults.
func (d *decision) guardedSetting(s *pg_query.VariableSetStmt) bool {
	if s == nil || s.GetKind() == pg_query.VariableSetKind_VAR_RESET_ALL {
		return false
	}
	return d.settingRule(strings.ToLower(s.GetName())) != ""
}

// normSetting folds a setting name the way a client could disguise it:
// case, surrounding or embedded blanks, and double quotes.
func normSetting(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', '\f', '\v', '"':
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, name)
}

// constText returns the text of a constant: a string, number or boolean
// literal, optionally cast to text. Anything else is not a constant.
func constText(n *pg_query.Node) (string, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		// Only an unmodified text cast keeps the literal as written;
		// varchar(4) or char(n) would truncate or pad it.
		tn := tc.GetTypeName()
		names := tn.GetNames()
		if len(names) == 0 || !strings.EqualFold(names[len(names)-1].GetString_().GetSval(), "text") ||
			tn.GetTypmods() != nil || tn.GetArrayBounds() != nil || tn.GetSetof() {
			return "", false
		}
		n = tc.GetArg()
	}
	c := n.GetAConst()
	if c == nil || c.GetIsnull() {
		return "", false
	}
	switch v := c.GetVal().(type) {
	case *pg_query.A_Const_Sval:
		return v.Sval.GetSval(), true
	case *pg_query.A_Const_Ival:
		return fmt.Sprint(v.Ival.GetIval()), true
	case *pg_query.A_Const_Fval:
		return v.Fval.GetFval(), true
	case *pg_query.A_Const_Boolval:
		return fmt.Sprint(v.Boolval.GetBoolval()), true
	}
	return "", false
}
