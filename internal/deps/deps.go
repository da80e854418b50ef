package main
import (
 _ "github.com/jackc/pgx/v5"
 _ "github.com/jackc/pgx/v5/pgproto3"
 _ "github.com/jackc/pgx/v5/pgconn"
 _ "golang.org/x/crypto/hkdf"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/pires/go-proxyproto"
 _ "go.yaml.in/yaml/v3"
 _ "golang.org/x/mod/sumdb/note"
 _ "github.com/pganalyze/pg_query_go/v6"
)
func main(){}
