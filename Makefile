# The two commands of the README. Each installs what is missing first (scripts/setup.sh is idempotent).
.PHONY: setup demo kv-demo test bench

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
