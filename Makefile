# The two commands of the README. Each installs what is missing first (scripts/setup.sh is idempotent).
.PHONY: setup demo test typecheck bench

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	@node_modules/.bin/tsc -p tsconfig.json --noEmit
	@node_modules/.bin/vitest run

bench: setup
	@node_modules/.bin/tsx bench/run.ts
