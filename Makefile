# The two commands of the README. Each installs what is missing first (scripts/setup.sh is idempotent).
.PHONY: setup demo kv-demo test bench pack

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

kv-demo: setup
	@bash scripts/kv-demo.sh

test: setup
	@bash scripts/test.sh

bench: setup
	@node_modules/.bin/tsx bench/run.ts

# The self-contained artefact (docs/pack.md): only on demand, never part of setup (it takes a
# minute and writes ~40 MB). PACK_ARGS passes options, e.g. PACK_ARGS="--oci-layout oci".
pack: setup
	@node_modules/.bin/paddock pack $(PACK_ARGS)
