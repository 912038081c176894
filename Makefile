# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit lint docs format package deploy local clean bench bench-cold-start bench-events bench-sites bench-list bench-distributed browser accessibility screenshots target-role

# Prerequisites are made two at a time (`make test` builds its two venvs at once); a recipe's steps still
# run in order.
MAKEFLAGS += --jobs=2

# checkov judges the packaged template; it pins a boto3 older than the Lambdas', so it has a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

$(STAMP): pyproject.toml requirements.txt emulator/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip<26.3' 'uv==0.13.8'  # chalice 1.34 packages with pip below 26.3
	# uv installs in a fifth of pip's time; pip is the fallback where uv cannot reach the index. The embedded
	# local AWS (emulator/) is a development package of its own, installed beside the controller.
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]' -e ./emulator \
	  || $(BIN)/python -m pip install --quiet -e '.[dev]' -e ./emulator
	touch $(STAMP)

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'uv==0.13.8'
	$(CHECKOV_VENV)/bin/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python 'checkov==3.3.30' \
	  || $(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==3.3.30'

# The local Synthetics runs the functional tests' canaries in Chromium.
demo: $(STAMP) browser
	$(BIN)/python -m localaws demo

local: $(STAMP) browser
	$(BIN)/python -m localaws local

# The lint (ruff, mypy, import contracts, the docs' build) runs beside the tests too, at the lowest priority: its
# 15 s of a fresh mypy no longer come before them. Its output is printed once the integration tests end.
# The unit and the integration tests each spread over worker processes, never in one run: a unit test's
# moto resets the process's emulated AWS, which a worker's local stack lives in. They run side by side, the
# unit tests at the lowest priority (nice 19): they take the cores while the launches wait on their events
# and timers, and give them back when a launch works, so the integration tests' timings stay as they are
# alone. The unit tests' report is printed once both have ended.
# Each integration worker starts its own local stack on free ports; idle workers take queued tests from busy ones.
# Three workers on CI's two cores: measured 174 s against four's 181 s (each stack runs its own Chromium too).
# The integration run leaves the AWS calls each function made in LAUNCH_CALLS_DIR; tests/policies then
# checks them against each function's own policy (.chalice/policies/): nothing more, nothing less.
# The two virtualenvs and the browser are made at once (about 10 s of a fresh clone's 30 s of set-up).
test:
	$(MAKE) --no-print-directory -j3 $(STAMP) $(CHECKOV) browser accessibility
	@units=$$(mktemp -d); calls=$$(mktemp -d); \
	( nice -n 19 $(MAKE) --no-print-directory lint > $$units/lint 2>&1; echo $$? > $$units/lint-rc ) & \
	lint=$$!; \
	( nice -n 19 $(BIN)/python -m pytest tests/unit -n 2 > $$units/log 2>&1; echo $$? > $$units/rc ) & \
	unit=$$!; \
	LAUNCH_CALLS_DIR=$$calls $(BIN)/python -m pytest tests/integration -n 3 --dist worksteal; integration=$$?; \
	wait $$lint; echo "== lint (run beside the tests)"; cat $$units/lint; \
	wait $$unit; echo "== unit tests (run beside the integration tests)"; cat $$units/log; \
	[ "$$(cat $$units/lint-rc)" = 0 ] && [ "$$(cat $$units/rc)" = 0 ] && [ $$integration = 0 ] && \
	LAUNCH_CALLS_DIR=$$calls $(BIN)/python -m pytest tests/policies

# The pages' accessibility check injects axe-core (pinned in tests/accessibility/package-lock.json) into that
# browser; npm comes with Debian's nodejs, installed here when missing.
AXE := tests/accessibility/node_modules/axe-core/axe.min.js
accessibility: $(AXE)
$(AXE): tests/accessibility/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null \
	  || { echo "could not install npm: run 'apt-get install npm' as root, then make test"; exit 1; }; }
	cd tests/accessibility && npm ci --no-audit --no-fund --silent
	@touch $@

# The pages as the docs show them, photographed on a laptop's screen and a phone's (docs/pages/).
screenshots: $(STAMP) browser accessibility
	LAUNCH_PAGE_SCREENSHOTS=docs/pages $(BIN)/python -m pytest -q tests/unit/api/test_pages_in_a_browser.py

# The approval page is tested in a real browser: Debian's chromium, installed here when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the approval page's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	  || { echo "could not install chromium: run 'apt-get install chromium' as root, then make test"; exit 1; }; }

# Strict types on the Lambdas' code, the CLI and the local AWS (settings in pyproject.toml), the layers of
# chalicelib/ (import-linter's contracts in pyproject.toml), and the documentation built strict.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/mkdocs build --quiet

# The documentation's pages, built into out/site (strict: a broken link or anchor fails; mkdocs.yml).
docs: $(STAMP)
	$(BIN)/mkdocs build

# The unit tests alone, about four minutes on two cores: no local stack, no browser.
unit: $(STAMP) browser accessibility
	$(BIN)/python -m pytest tests/unit -n 2

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The deployable SAM template: Chalice's Lambdas and API merged with the state machine, table and topics;
# the code's zip slimmed to the AWS models it uses, with bytecode for what a function imports to start.
package: $(STAMP) $(CHECKOV)
	rm -rf out
	$(BIN)/python -m launchctl.build.template out/merge-template.json
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage prod --merge-template out/merge-template.json out/package
	$(BIN)/python -m launchctl.build.package out/package
	$(BIN)/python -m launchctl.build.target_role out/package/target-account-role.json
	cmp out/package/target-account-role.json deploy/target-account-role.json || { echo "deploy/target-account-role.json is stale: make target-role"; exit 1; }
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/cfn-lint out/package/sam.json out/package/target-account-role.json
	$(CHECKOV) -f out/package/sam.json -f out/package/target-account-role.json --framework cloudformation --skip-download --compact --quiet

# The role a launch acts as in each environment's account, from .chalice/policies/environment/ (committed:
# it is deployed by hand in accounts this repository never reaches).
target-role: $(STAMP)
	$(BIN)/python -m launchctl.build.target_role deploy/target-account-role.json

# Deploys out/package to the account of AWS_PROFILE (the README's Deploying section): never run by tests.
# STACK names the stack; PARAMETERS are the template's, KEY=VALUE separated by spaces.
STACK ?= launch-controller
PARAMETERS ?=
deploy: $(STAMP)
	@test -n "$$AWS_PROFILE" || { echo "make deploy deploys to the account of AWS_PROFILE: set it to the profile to deploy with"; exit 2; }
	$(MAKE) package
	$(BIN)/python -m launchctl.build.deploy out/package --stack $(STACK) $(foreach p,$(PARAMETERS),--parameter $(p))

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) out .pytest_cache .ruff_cache

# Every benchmark, one after another (never two at once: each measures time), some 40 minutes; each is also
# a target of its own. Measured, never asserted: docs/benchmarks.md's tables are their output.
bench: $(STAMP)
	for bench in bench-cold-start bench-events bench-sites bench-list bench-distributed; do \
	  $(MAKE) --no-print-directory $$bench || exit 1; done

# Cold start of the Lambda entry points (import time).
bench-cold-start: $(STAMP)
	$(BIN)/python benchmarks/cold_start.py

# What a launch costs on events (state transitions, invocations) for short and long bakes and rollouts, and how
# fast a breach set mid-bake rolls back: launches on the local stack, about two and a half minutes.
# The frontend stages by the site's size (100 and 1,000 objects, and 1,000 with 20 versions of each; S3 calls
# made 30 ms slower, as on AWS): time, S3 calls, calls in flight, the launch item's size, the largest event.
# Then 10,000 objects in layout releases (docs/release-switch.md): a rollback is one KeyValueStore write.
bench-sites: $(STAMP)
	$(BIN)/python benchmarks/site_sizes.py 100 1000 10000 --s3-ms 30
	$(BIN)/python benchmarks/site_sizes.py 1000 --s3-ms 30 --generations 20
	$(BIN)/python benchmarks/site_sizes.py 10000 --s3-ms 30 --layout releases

bench-list: $(STAMP)
	$(BIN)/python benchmarks/launch_list.py 10 1000 10000

# One launch of a 30,000-object site on the local stack, through the Distributed Map path (backup, upload and
# copy back in batches), rolled back: stage times, S3 calls by function, map runs, item and event sizes.
bench-distributed: $(STAMP)
	$(BIN)/python benchmarks/distributed_site.py 30000 | grep -v '^{"level"'

bench-events: $(STAMP)
	$(BIN)/python benchmarks/event_costs.py
