# luaproxy developer entry points. The README names two of them: `make run`
# and `make test`; CI (.ci/run) calls `make test`.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 30s

.PHONY: build run test test-short bench fuzz redis-suite vet clean

## build: the luaproxy binary in bin/
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/luaproxy ./cmd/proxy

## run: luaproxy on 127.0.0.1:6380 in front of a local Redis on 6379 (installed/started if needed)
run: build
	bash deploy/local/run.sh bin/luaproxy

## test: vet, then every test under the race detector against real redis-server processes
test:
	bash deploy/local/need-redis.sh
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...

## test-short: the tests without -race, for a quick loop
test-short:
	$(GO) test -timeout 10m ./...

## bench: pass-through benchmark against direct Redis and a no-op forwarder, scripts against
## native Redis, the cost and the scaling of the shard locks, plus Go benchmarks
bench:
	bash deploy/local/need-redis.sh
	$(GO) run ./test/bench
	$(GO) run ./test/bench/scripts
	$(GO) run ./test/bench/locks
	$(GO) test -run '^$$' -bench . -benchmem ./proxy/ ./luavm/...

## fuzz: each fuzz target for FUZZTIME
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## redis-suite: Redis's own scripting and functions tests through luaproxy
redis-suite: build
	bash deploy/local/redis-suite.sh bin/luaproxy

vet:
	$(GO) vet ./...

clean:
	rm -rf bin .bench
