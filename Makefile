# Bootstraps the virtual environment from pyproject.toml, then runs, tests, documents, benchmarks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := $(CURDIR)/.venv
MIMIC_VENV := $(CURDIR)/.venv-mimic
ORCH := middleware/orchestrator
CLIENT := clients/python
PIP := $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test docs screenshots bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run: $(VENV)/bin/python $(ORCH)/pyproject.toml
	$(PIP) -e $(ORCH)
	touch $@

$(VENV)/.test: $(VENV)/.run $(ORCH)/tests/plugins/example_driver/pyproject.toml $(CLIENT)/pyproject.toml
	$(PIP) -e '$(ORCH)[test,docs,bench]' $(ORCH)/tests/plugins/example_driver -e '$(CLIENT)[test]'
	touch $@

# mimic (Rackspace's API mock) lives in its own environment: it needs attrs 23.2.0 pinned.
$(MIMIC_VENV)/.installed:
	$(PYTHON) -m venv $(MIMIC_VENV)
	$(MIMIC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'mimic==2.2.0' 'attrs==23.2.0'
	touch $@

run: $(VENV)/.run
	cd $(ORCH) && $(VENV)/bin/python runserver.py

test: $(VENV)/.test $(MIMIC_VENV)/.installed
	cd $(ORCH) && MIMIC_TWISTD=$(MIMIC_VENV)/bin/twistd $(VENV)/bin/python -m pytest $(PYTEST_ARGS)
	cd $(CLIENT) && $(VENV)/bin/python -m pytest

docs: $(VENV)/.test
	cd $(ORCH) && PATH=$(VENV)/bin:$$PATH ./make_mw_docs.sh

# The dashboard's screenshots in the docs, taken anew by its browser tests.
screenshots: $(VENV)/.test
	cd $(ORCH) && ORCHESTRATOR_SCREENSHOTS=$(CURDIR)/$(ORCH)/docs/_static/screens $(VENV)/bin/python -m pytest tests/test_ui_browser.py

# One run of each scenario, every round printed: the API, then the scheduler on SQLite (beside
# APScheduler 3), on PostgreSQL, and through Celery workers on PostgreSQL and RabbitMQ.
bench: $(VENV)/.test
	cd $(ORCH) && $(VENV)/bin/python bench/api_throughput.py \
		&& $(VENV)/bin/python bench/scheduler.py --peers \
		&& $(VENV)/bin/python bench/scheduler.py --store postgresql \
		&& $(VENV)/bin/python bench/scheduler.py --store postgresql --executor celery

clean:
	rm -rf $(VENV) $(MIMIC_VENV)
