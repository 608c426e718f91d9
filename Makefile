# acr-pipeline: `make synth [STACK=dev]` (offline plan), `make check [STACK=dev]` (one stack's config
# and workflows under the checkers, in seconds) and `make test` (everything).
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  ?=

.PHONY: install program synth check check-stacks schema verify test lint typecheck clean mutate

# A fresh clone gets its .venv here: first what the program needs (synth, verify, check-stacks,
# schema), then the test tools (make check, make test); each again when its pinned requirements change.
$(VENV)/.program: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.program requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Only what the program needs (no test tools): for `make synth` and CI jobs that read stacks.
program: $(VENV)/.program

# The node packages of the tests' job-graph harness (tests/jobgraph/), exactly as package-lock.json pins them.
node_modules/.installed: package.json package-lock.json
	npm ci --include=dev --ignore-scripts --no-audit --no-fund
	touch $@

# Everything `make test` needs; the commands below it need only the Python environment.
install: $(VENV)/.installed node_modules/.installed

synth: $(VENV)/.program
	@$(PY) -m tools.synth $(STACK)

# One stack in seconds: its config, then the files it commits under actionlint (with shellcheck),
# zizmor and GitHub's workflow schema, each finding at the stack file's line that caused it.
# Without STACK, as `make synth`: dev, or the one stack there is. Needs the checkers (make install).
check: $(VENV)/.installed
	@$(PY) -m tools.check $(STACK)

# Dispatch the stack's committed workflow with verify=true (the login and each repository,
# nothing pushed) through the GitHub CLI, wait for it and report: needs gh and the stack file.
# Without STACK, as `make synth`: dev, or the one stack there is.
verify: $(VENV)/.program
	@$(PY) -m tools.verify $(STACK)

# No two stacks may write the same variable, secret, workflow file or registry resource.
check-stacks: $(VENV)/.program
	@$(PY) -m tools.check_stacks

# The stack-file JSON Schema and docs/configuration.md's reference, from the settings model.
schema: $(VENV)/.program
	@$(PY) -m tools.schema

# Tests (mocks, workflow checkers, every stack) in one process per core, each test file in one
# (its module-wide fixtures made once), then lint and types.
test: install
	$(PY) -m pytest -n auto --dist loadfile
	$(MAKE) --no-print-directory check-stacks lint typecheck

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed
	$(PY) -m mypy

# Mutation testing, not part of `test` (hours for everything: one test process at a time, niced):
# mutmut mutates the rule modules and tools/mutate.py the renderer's shell scripts; prints the
# score per module and every surviving mutant, and writes both to build/mutation/report.md.
# `make mutate MUTATE="--python 'components.rules.*'"` does a part. Which tests judge the
# mutants, and why: tools/mutate.py and [tool.mutmut] in pyproject.toml.
mutate: install
	nice -n 19 $(PY) -m tools.mutate $(MUTATE)

clean:
	rm -rf build mutants .pytest_cache .mypy_cache .ruff_cache
