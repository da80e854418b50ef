// Package rolemap maps a client certificate identity to its rule: the
// least-privilege database role it runs as, the startup user names and
// databases it may use, and its flags. Identities are exact names or globs
// (`scrape-*`); rules that could both match one identity are a config error,
// so a lookup never has to choose. An unknown identity has no rule: fail closed.
package rolemap
