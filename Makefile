# Quickstart: `make demo` builds real digests from the shipped sample; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: demo test test-clock bench eval lint check dist clean

# The demo needs only the project; tests, bench, eval and lint add the dev extra
# (pytest, aiosmtpd, selenium, scikit-learn for the eval baseline, ruff).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# Until 0.1.0 the distribution was called digest: a venv made then holds both otherwise.
	$(BIN)/python -m pip uninstall --quiet --yes digest 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV)

# The demo has its own configuration and writes only under demo/out/, so it cannot touch a
# deployment run from this checkout (./digest.yaml, .digest/, outbox/, archive/). It starts
# afresh each time, deleting demo/out/ only when its stamp says `make demo` made it.
DEMO_OUT := demo/out
DEMO_STAMP := $(DEMO_OUT)/.made-by-make-demo
demo: $(STAMP)
	@if [ -e $(DEMO_OUT) ] && [ ! -e $(DEMO_STAMP) ]; then \
	  echo "$(DEMO_OUT) was not made by make demo: not deleting it (move it away to run the demo)"; exit 2; fi
	rm -rf $(DEMO_OUT)
	mkdir -p $(DEMO_OUT) && touch $(DEMO_STAMP)
	$(BIN)/digest --config demo/digest.yaml preview --out $(DEMO_OUT)/preview
	$(BIN)/digest --config demo/digest.yaml send
	@echo "Open $(DEMO_OUT)/preview/digest.html in a browser; the messages are .eml files under"
	@echo "$(DEMO_OUT)/outbox/, the web archive (a page per issue, index.html, feed.xml) under $(DEMO_OUT)/archive/."

test: $(DEV)
	$(BIN)/python -m pytest -q -n auto

# The whole suite at a moved instant and in a far time zone, for the test process and every
# process it starts (tests/clock/sitecustomize.py): at 02:30 UTC the test readers in London,
# New York and Tokyo are on two dates, and Kiritimati is UTC+14. A test that reads the wall
# clock instead of stating its instant fails here whatever the hour CI runs at. The path is
# absolute: the digest processes tests start run in their own folders.
TEST_CLOCK ?= auto
test-clock: $(DEV)
	DIGEST_TEST_CLOCK=$(TEST_CLOCK) TZ=Pacific/Kiritimati PYTHONPATH=$(CURDIR)/tests/clock \
	  $(BIN)/python -m pytest -q -n auto

bench: $(DEV)
	$(BIN)/python -m bench

# Theme quality: AMI against arXiv categories on recorded labelled papers, beside a baseline;
# relevance: precision@10 of simulated readers' libraries, beside trending-only and keywords.
# TL;DRs: how often the picked sentence is the one closest to HF's ai_summary, beside the first sentence.
eval: $(DEV)
	$(BIN)/python -m eval.themes
	$(BIN)/python -m eval.relevance
	$(BIN)/python -m eval.tldr

# The sdist and the wheel in dist/, checked as PyPI would (README, "Install"; docs/lab.md).
dist: $(DEV)
	rm -rf dist
	$(BIN)/python -m build
	$(BIN)/twine check --strict dist/*

lint: $(DEV)
	$(BIN)/ruff check digest tests bench scripts eval

# What CI enforces beside the tests: lint, formatting, types (mypy with the pydantic plugin),
# the import layers (import-linter: the pure stages do no I/O; data flows one way) and the
# documentation (mkdocs --strict: a broken link or anchor in docs/ fails), built into a
# temporary folder so a check leaves nothing behind.
check: $(DEV)
	$(BIN)/ruff check digest tests bench scripts eval
	$(BIN)/ruff format --check digest tests bench scripts eval
	$(BIN)/mypy
	$(BIN)/lint-imports
	site=$$(mktemp -d) && $(BIN)/mkdocs build --strict --site-dir "$$site"; \
	  status=$$?; rm -rf "$$site"; exit $$status

# Only what the demo, the tests and the build made: never a deployment's state or outbox.
clean:
	@if [ -e $(DEMO_STAMP) ]; then rm -rf $(DEMO_OUT); fi
	rm -rf test-artifacts build dist *.egg-info
