// Package config is pgshield's configuration: one YAML file decoded into plain
// structs whose zero values are documented, checked once at start-up (Validate)
// so that a bad key fails before the proxy listens, never at the first client.
//
// Every YAML key is an interface users and scripts rely on; configs/
// pgshield.example.yaml documents each one. Secrets are never inline: the
// config names a file or an environment variable that holds them.
package config
