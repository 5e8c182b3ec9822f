# Two commands set everything up on a fresh machine: `make demo`, `make test`.
# Each creates .venv when it is missing and installs the pinned versions from
# constraints.txt (regenerate it with `make lock` after changing dependencies).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lab review bench lock clean-venv

$(STAMP): pyproject.toml constraints.txt
	@echo "== Cài đặt thư viện vào $(VENV) (lần đầu khoảng 2 phút) / Installing the dependencies into $(VENV) (about 2 minutes the first time)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
	  { $(PYTHON) -m pip install --quiet virtualenv && $(PYTHON) -m virtualenv $(VENV); }
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vax demo

test: $(STAMP)
	$(BIN)/python -m pytest

# JupyterLab on working copies under outputs/notebooks (git-ignored): autosaved outputs
# with personal data never land in the tracked notebooks/
lab: $(STAMP)
	$(BIN)/python -m vaxlib.lab
	$(BIN)/jupyter lab outputs/notebooks/

# The review queue as a web app (Voilà on 127.0.0.1, each analyst signs in with their own
# PostgreSQL login and reads what `vax ledger publish` put in the database): make review
# LEDGER="postgresql://db.example/vax" [PORT=8866]
PORT ?= 8866
review: $(STAMP)
	@test -n "$(LEDGER)" || { echo "make review LEDGER=postgresql://HOST/DB (the team ledger, without a login)"; exit 2; }
	$(BIN)/vax review-app --ledger "$(LEDGER)" --port $(PORT)

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Re-pin every dependency to what is installed now.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -i '^vaxlib' > constraints.txt

clean-venv:
	rm -rf $(VENV)
