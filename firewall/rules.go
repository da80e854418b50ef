package firewall

// DeniedSQLState is the SQLSTATE (insufficient_privilege) the proxy reports
// for a denied text.
const DeniedSQLState = "42501"

// Rule ids carried in Verdict.Rule. They are stable: dashboards, audit
// records and tests key on them.
const (
	RuleSetRole                   = "set_role"
	RuleResetAll                  = "reset_all"
	RuleSessionAuthorization      = "session_authorization"
	RuleIdentitySetting           = "identity_setting"
	RuleStandardConformingStrings = "standard_conforming_strings"
	RuleClientEncoding            = "client_encoding"
	RuleSetConfigRole             = "set_config_role"
	RuleSetConfigNonConstant      = "set_config_nonconstant"
	RulePgSettingsWrite           = "pg_settings_write"
	RuleDynamicSQLFunction        = "dynamic_sql_function"
	RuleDeniedFunction            = "denied_function"
	RuleFunctionReference         = "denied_function_reference"
	RuleDoBlock                   = "do_block"
	RuleCreateFunction            = "create_function"
	RuleAlterFunction             = "alter_function"
	RulePrepareTransaction        = "prepare_transaction"
	RuleCopyProgram               = "copy_program"
	RuleLoad                      = "load"
	RuleAlterSystem               = "alter_system"
	RuleAlterRoleSet              = "alter_role_set"
	RuleAlterDatabaseSet          = "alter_database_set"
	RuleDiscardAll                = "discard_all"
	RuleTransactionControlMixed   = "transaction_control_mixed"
	RuleTransactionChain          = "transaction_chain"
	RuleUnparseable               = "unparseable"
	RuleReservedName              = "reserved_name"
)

// Rules lists every rule id, for metrics that pre-create their series.
func Rules() []string {
	return []string{RuleSetRole, RuleResetAll, RuleSessionAuthorization, RuleIdentitySetting,
		RuleStandardConformingStrings, RuleClientEncoding, RuleSetConfigRole, RuleSetConfigNonConstant,
		RulePgSettingsWrite, RuleDynamicSQLFunction, RuleDeniedFunction, RuleFunctionReference, RuleDoBlock,
		RuleCreateFunction, RuleAlterFunction, RulePrepareTransaction, RuleCopyProgram, RuleLoad, RuleAlterSystem,
		RuleAlterRoleSet, RuleAlterDatabaseSet, RuleDiscardAll, RuleTransactionControlMixed, RuleTransactionChain,
		RuleUnparseable, RuleReservedName}
}

// reason is the client-safe message for a rule. It never echoes any part of
// the client's text, so it cannot be used to reflect content into logs.
func reason(rule string) string {
	switch rule {
	case RuleSetRole:
		return "SET ROLE / RESET ROLE is not allowed through pgshield"
	case RuleResetAll:
		return "RESET ALL is not allowed through pgshield"
	case RuleSessionAuthorization:
		return "SET SESSION AUTHORIZATION is not allowed through pgshield"
	case RuleIdentitySetting:
		return "the pgshield identity setting cannot be changed by clients"
	case RuleStandardConformingStrings:
		return "changing standard_conforming_strings is not allowed through pgshield"
	case RuleClientEncoding:
		return "only UTF8 client_encoding is allowed through pgshield"
	case RuleSetConfigRole:
		return "set_config of role or session_authorization is not allowed through pgshield"
	case RuleSetConfigNonConstant:
		return "set_config with a non-constant setting name is not allowed through pgshield"
	case RulePgSettingsWrite:
		return "writing to pg_settings is not allowed through pgshield"
	case RuleDynamicSQLFunction:
		return "functions that run SQL text are not allowed through pgshield"
	case RuleDeniedFunction:
		return "this function is not allowed through pgshield"
	case RuleFunctionReference:
		return "referencing a denied function is not allowed through pgshield"
	case RuleDoBlock:
		return "DO blocks are not allowed through pgshield"
	case RuleCreateFunction:
		return "CREATE FUNCTION / PROCEDURE is not allowed through pgshield"
	case RuleAlterFunction:
		return "ALTER FUNCTION / PROCEDURE is not allowed through pgshield"
	case RulePrepareTransaction:
		return "PREPARE TRANSACTION is not allowed through pgshield"
	case RuleCopyProgram:
		return "COPY ... PROGRAM is not allowed through pgshield"
	case RuleLoad:
		return "LOAD is not allowed through pgshield"
	case RuleAlterSystem:
		return "ALTER SYSTEM is not allowed through pgshield"
	case RuleAlterRoleSet:
		return "ALTER ROLE ... SET of this setting is not allowed through pgshield"
	case RuleAlterDatabaseSet:
		return "ALTER DATABASE ... SET of this setting is not allowed through pgshield"
	case RuleDiscardAll:
		return "DISCARD ALL is not allowed through pgshield"
	case RuleTransactionControlMixed:
		return "transaction control must be sent as a statement of its own through pgshield"
	case RuleTransactionChain:
		return "COMMIT/ROLLBACK AND CHAIN is not allowed through pgshield"
	case RuleUnparseable:
		return "statement could not be parsed by pgshield"
	case RuleReservedName:
		return "statement names starting with __pgshield are reserved"
	}
	return "statement is not allowed through pgshield"
}

// DeniedError is the error form of a denied Verdict, for the one place in the
// proxy that turns errors into ErrorResponse messages.
type DeniedError struct {
	// Rule is the stable rule id, one of the Rule… constants.
	Rule string
	// Reason is the client-safe message.
	Reason string
}

func (e *DeniedError) Error() string { return "pgshield firewall: " + e.Reason }

// SQLState returns DeniedSQLState.
func (e *DeniedError) SQLState() string { return DeniedSQLState }
