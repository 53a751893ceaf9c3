# Teichaku: two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# `make test` ignores the contract's runtime variables (it builds its own database).
RUNTIME_VARS := DATABASE_URL APP_DATABASE_URL REPORTING_DATABASE_URL REDIS_URL SECRET_KEY TEICHAKU_ENV PORT

.PHONY: install run test test-fast bench translations clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	$(BIN)/pybabel compile --statistics -d teichaku/translations

run: install
	infra/scripts/run-dev.sh

test: install
	@for v in $(RUNTIME_VARS); do unset $$v; done; \
	infra/scripts/ensure-services.sh && \
	infra/scripts/ensure-chromium.sh && \
	infra/scripts/ensure-infra-tools.sh && \
	env $(foreach v,$(RUNTIME_VARS),-u $(v)) $(BIN)/python -m pytest && \
	env $(foreach v,$(RUNTIME_VARS),-u $(v)) TEICHAKU_TEST_DB=sqlite $(BIN)/python -m pytest -m sweep

# Everything but the browser and cross-process tests, for a quick loop while coding.
test-fast: install
	env $(foreach v,$(RUNTIME_VARS),-u $(v)) $(BIN)/python -m pytest -m "not browser and not slow" -x -q

bench: install
	infra/scripts/ensure-services.sh
	env $(foreach v,$(RUNTIME_VARS),-u $(v)) $(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance
