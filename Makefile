# pgshield: the two set-up commands are `make demo` and `make test`.
GO ?= go
BIN := bin/pgshield

.PHONY: deps build demo test fuzz bench bench-quick clean

deps:
	@./scripts/ensure-deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/pgshield

## demo: run pgshield in front of an ephemeral PostgreSQL with dev certificates.
demo: deps build
	./$(BIN) demo --dir .demo

## test: gofmt, go vet, and every test with the race detector.
test: deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...

## bench: pgshield against direct PostgreSQL, PgBouncer and HAProxy (about 11 minutes).
bench:
	./bench/run.sh -full -gobench "./audit ./firewall"

## bench-quick: workloads 1, 4 and 5 only (under 3 minutes).
bench-quick:
	./bench/run.sh

## fuzz: a short run of each fuzz target.
fuzz:
	$(GO) test -run XXX -fuzz FuzzReadStartup -fuzztime 30s ./pgwire
	$(GO) test -run XXX -fuzz FuzzForward -fuzztime 30s ./pgwire
	$(GO) test -run XXX -fuzz FuzzPumpClient -fuzztime 30s ./proxy
	$(GO) test -run XXX -fuzz FuzzCheck -fuzztime 30s ./firewall

clean:
	rm -rf bin .demo
