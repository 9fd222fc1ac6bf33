# The two commands a new user types: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint validate browser ui bench clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) on PATH (or make PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/afterlaunch demo --workflow ticket_escalation $(if $(HOME_DIR),--home $(HOME_DIR),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Loads workspace.yaml exactly as the webserver and daemon would, on a scratch embedded instance
# (the repository's dagster.yaml is the Postgres one and needs its credentials).
validate: $(STAMP)
	@scratch=$$(mktemp -d) && touch $$scratch/dagster.yaml && \
	DAGSTER_HOME=$$scratch AFTERLAUNCH_HOME=$$scratch AFTERLAUNCH_SOURCE_URL=sqlite:// \
		$(BIN)/dagster definitions validate -w workspace.yaml; \
	status=$$?; rm -rf $$scratch; exit $$status

# The UI test drives Debian's chromium (Playwright's own browser download is not used).
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the UI test"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y --no-install-recommends chromium \
		|| { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update && \
		     $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y --no-install-recommends chromium; }; }

# Three workers on two cores, one test file each at a time: a file's module fixture (a simulated
# deployment) is built once, and a third worker fills the time the others spend waiting on
# SQLite, Postgres, the webserver and the daemon (6.5 minutes here, against 9.3 on two).
test: lint validate browser
	$(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder

# Side-by-side measurements; figures land in benchmarks/results/ (see benchmarks/README.md).
# Evidently and river get their own environments (benchmarks/envs/), created on first use.
bench: $(STAMP)
	$(BIN)/python benchmarks/profile_speed.py
	$(BIN)/python benchmarks/drift_vs_evidently.py
	$(BIN)/python benchmarks/drift_streams.py
	$(BIN)/python benchmarks/bootstrap_speed.py
	$(BIN)/python benchmarks/promotion_speed.py
	$(BIN)/python benchmarks/audit_appends.py
	$(BIN)/python benchmarks/action_latency.py
	$(BIN)/python benchmarks/loop_cost.py
	$(BIN)/python benchmarks/loop_scale.py
	$(BIN)/afterlaunch demo --workflow ticket_escalation --home benchmarks/.demo-home > benchmarks/results/label_free_demo.log
	$(BIN)/python benchmarks/label_free.py --home benchmarks/.demo-home

ui: $(STAMP)
	$(BIN)/afterlaunch ui $(if $(HOME_DIR),--home $(HOME_DIR),)

clean:
	rm -rf $(VENV) .afterlaunch .pytest_cache .ruff_cache
