# Orchestration for the workspace. Members, their aliases and commands live in workspace.toml only;
# every target goes through ci/workspace.py, which creates .venv on first use.
PYTHON ?= python3
WS := $(PYTHON) ci/workspace.py

.DEFAULT_GOAL := help
.PHONY: help list install test lint workflows clean-venv results report

help: ## Show this help and the members (aliases) from workspace.toml
	@echo "usage: make <target>    (the first target that needs it creates .venv)"
	@echo
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo
	@echo "members (<alias> in the targets above):"
	@$(WS) list

list: ## List members and whether each is built
	@$(WS) list

install: ## Create .venv: pinned torch/torchvision, tools, every member editable with dev extras
	@$(WS) install

install-%: ## Install shared-utils + one member only (e.g. make install-def)
	@$(WS) install $*

test: ## Registry check, independence checks (import-linter, deptry) and every member's tests
	@$(WS) test-all

test-%: ## Run one member's tests (e.g. make test-lvt)
	@$(WS) run test $*

train-%: ## Generate data, train the CPU config, evaluate, write outputs/<alias>/ (e.g. make train-def)
	@$(WS) run train $*

eval-%: ## Re-evaluate a trained run of one member (e.g. make eval-npbg)
	@$(WS) run eval $*

bench-%: ## Run one member's benchmarks (e.g. make bench-multineus)
	@$(WS) run bench $*

results: ## Copy the latest default runs into <member>/results/ and regenerate the READMEs' result blocks
	@$(WS) results

compare-%: ## How far outputs/<alias>/default is from the member's committed reference metrics (e.g. make compare-def)
	@$(WS) compare $*

report: ## Write report.html for every run under outputs/ and the index page outputs/index.html
	@$(WS) install
	@.venv/bin/python -m shared_utils.report outputs

ci-%: ## What one member's CI job runs: fresh venv, shared-utils + that member alone, its tests
	@bash ci/test-member.sh $*

lint: ## ruff over the whole workspace
	@$(WS) install
	@.venv/bin/ruff check .

workflows: ## Regenerate .github/workflows from workspace.toml
	@$(WS) workflows

clean-venv: ## Remove .venv
	rm -rf .venv
