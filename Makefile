# Quick start: `make demo` runs the main job on the bundled instances, `make test` the test suite.
# Each target creates .venv and installs what it needs (torch as the CPU build 2.13.0).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[torch,accuracy,keras,onnx,plots,dev,partition,dask,efficientnet]'
	touch $(STAMP)

.PHONY: venv demo test
venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mapopt bench instances/resnet20 --problem baseline --methods dense,orc --out results/demo.jsonl
	$(BIN)/mapopt report results/demo.jsonl
	@echo "objective: OU activations per input vector. ORC skips the all-zero rows of each OU in the same layout, so"
	@echo "both use the same crossbars; grouping filters (mapopt map instances/resnet20 --pipeline orc) frees them."

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2
