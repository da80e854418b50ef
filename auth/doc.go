// Package auth decides whether a client whose certificate identity has been
// verified may open the session it asks for: the identity must be declared,
// the startup user must be the identity (as PostgreSQL's cert method) or one
// it may use, the database one it may use, and every startup parameter one
// pgshield lets through. Anything else is refused with a reason for the log
// and a message for the client. It fails closed: no rule, no session.
package auth
