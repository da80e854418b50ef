package firewall

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walk visits every message under n through protobuf reflection, so no node
// type can be forgotten: CTEs, subqueries, VALUES, casts, defaults, CASE,
// PREPARE and EXPLAIN bodies, CREATE TABLE AS and VIEW queries, RETURNING …
func (d *decision) walk(n *pg_query.Node) {
	if n != nil {
		d.walkMessage(n.ProtoReflect())
	}
}

func (d *decision) walkMessage(m protoreflect.Message) {
	if !d.v.Allowed {
		return
	}
	d.visit(m.Interface())
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsMap():
			// pg_query's schema has no maps today; walk message values
			// anyway so a future one cannot hide a node.
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					d.walkMessage(mv.Message())
					return d.v.Allowed
				})
			}
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && d.v.Allowed; i++ {
				d.walkMessage(l.Get(i).Message())
			}
		default:
			d.walkMessage(v.Message())
		}
		return d.v.Allowed
	})
}

// visit applies the rules that hold for a node wherever it appears.
func (d *decision) visit(m proto.Message) {
	switch x := m.(type) {
	case *pg_query.FuncCall:
		d.funcCall(x)
	case *pg_query.ExecuteStmt: // also inside EXPLAIN and CREATE TABLE AS
		d.reservedName(x.GetName())
	case *pg_query.UpdateStmt:
		d.settingsWrite(x.GetRelation())
	case *pg_query.InsertStmt:
		d.settingsWrite(x.GetRelation())
	case *pg_query.DeleteStmt:
		d.settingsWrite(x.GetRelation())
	case *pg_query.MergeStmt:
		d.settingsWrite(x.GetRelation())
	case *pg_query.RangeVar:
		schema := strings.ToLower(x.GetSchemaname())
		if x.GetRelpersistence() == "t" || schema == "pg_temp" || strings.HasPrefix(schema, "pg_temp_") {
			d.v.Session |= TempTable
		}
	case *pg_query.DeclareCursorStmt:
		const cursorOptHold = 0x20 // CURSOR_OPT_HOLD in parsenodes.h
		if x.GetOptions()&cursorOptHold != 0 {
			d.v.Session |= HoldCursor
		}
	case *pg_query.ColumnRef:
		// x.f is the same call as f(x) when x is a row.
		d.reference(x.GetFields())
	case *pg_query.ObjectWithArgs:
		// GRANT/ALTER/CREATE CAST … FUNCTION set_config(…) and friends.
		d.reference(x.GetObjname())
	case *pg_query.DefElem:
		// CREATE AGGREGATE … (sfunc = set_config) or CREATE OPERATOR …
		// (function = dblink) call it indirectly. The parser gives a
		// function name in an option as a TypeName or a name list.
		arg := x.GetArg()
		if tn := arg.GetTypeName(); tn != nil {
			d.reference(tn.GetNames())
		}
		d.reference(arg.GetList().GetItems())
	case *pg_query.CreateTrigStmt:
		d.reference(x.GetFuncname())
	}
}

// settingsWrite denies DML on pg_settings, whose update rule calls
// set_config.
func (d *decision) settingsWrite(rel *pg_query.RangeVar) {
	if strings.EqualFold(rel.GetRelname(), "pg_settings") {
		d.deny(RulePgSettingsWrite)
	}
}

// lastName is the lower-cased last component of a dotted name list; the
// parser has already decoded quotes and U& escapes.
func lastName(names []*pg_query.Node) string {
	if len(names) == 0 {
		return ""
	}
	return strings.ToLower(names[len(names)-1].GetString_().GetSval())
}

// functionRule returns the rule denying a call of the function name with
// nargs arguments, or "" if such calls are fine. set_config is decided by
// funcCall from its arguments.
func (d *decision) functionRule(name string, nargs int) string {
	switch {
	case name == "ts_stat", strings.HasPrefix(name, "query_to_xml"),
		strings.HasPrefix(name, "cursor_to_xml"), strings.HasPrefix(name, "dblink"):
		return RuleDynamicSQLFunction
	case name == "ts_rewrite" && nargs == 2:
		// ts_rewrite(tsquery, text) runs the text as a query.
		return RuleDynamicSQLFunction
	case d.fw.denied[name]:
		return RuleDeniedFunction
	}
	return ""
}

// reference denies naming a denied function other than by calling it.
func (d *decision) reference(names []*pg_query.Node) {
	name := lastName(names)
	if name == "set_config" || name == "ts_rewrite" || d.functionRule(name, 0) != "" {
		d.deny(RuleFunctionReference)
	}
}

func (d *decision) funcCall(fc *pg_query.FuncCall) {
	name := lastName(fc.GetFuncname())
	switch {
	case name == "set_config":
		d.setConfig(fc.GetArgs())
	case name == "pg_advisory_lock", name == "pg_advisory_lock_shared",
		name == "pg_try_advisory_lock", name == "pg_try_advisory_lock_shared":
		d.v.Session |= AdvisoryLock
	default:
		if rule := d.functionRule(name, len(fc.GetArgs())); rule != "" {
			d.deny(rule)
		}
	}
}

// setConfig decides set_config(setting_name, new_value, is_local), in
// positional or named notation.
func (d *decision) setConfig(args []*pg_query.Node) {
	var setting, value, local *pg_query.Node
	for i, a := range args {
		if na := a.GetNamedArgExpr(); na != nil {
			switch strings.ToLower(na.GetName()) {
			case "setting_name":
				setting = na.GetArg()
			case "new_value":
				value = na.GetArg()
			case "is_local":
				local = na.GetArg()
			}
			continue
		}
		switch i {
		case 0:
			setting = a
		case 1:
			value = a
		case 2:
			local = a
		}
	}
	if setting == nil {
		d.deny(RuleSetConfigNonConstant)
		return
	}
	name, ok := constText(setting)
	if !ok {
		d.deny(RuleSetConfigNonConstant)
		return
	}
	name = normSetting(name)
	switch rule := d.settingRule(name); rule {
	case "":
	case RuleSetRole, RuleSessionAuthorization:
		d.deny(RuleSetConfigRole)
		return
	case RuleStandardConformingStrings, RuleClientEncoding:
		if v, ok := constValue(value); !ok || !safeValue(name, v) {
			d.deny(rule)
			return
		}
	default:
		d.deny(rule)
		return
	}
	if !isConstTrue(local) {
		d.v.Session |= SessionSet
	}
}

func constValue(n *pg_query.Node) (string, bool) {
	if n == nil {
		return "", false
	}
	return constText(n)
}

// isConstTrue reports whether n is the literal true, the only is_local that
// keeps set_config inside the transaction for sure.
func isConstTrue(n *pg_query.Node) bool {
	v, ok := constValue(n)
	return ok && strings.EqualFold(strings.TrimSpace(v), "true")
}
