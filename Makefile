# FCN toolkit. `make demo` and `make test` set themselves up in .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp
PIP     = $(PY) -m pip install -q --disable-pip-version-check -c constraints.txt
JOBS   ?= 2

MODELS = voc-fcn32s voc-fcn16s voc-fcn8s voc-fcn8s-atonce voc-fcn-alexnet \
         nyud-fcn32s-color nyud-fcn32s-hha nyud-fcn32s-color-d nyud-fcn32s-color-hha \
         siftflow-fcn32s siftflow-fcn16s siftflow-fcn8s \
         pascalcontext-fcn32s pascalcontext-fcn16s pascalcontext-fcn8s \
         voc-fcn-googlenet voc-fcn-resnet50 voc-fcn-resnet101 voc-fcn-resnet152 \
         cityscapes-fcn-resnet101

.PHONY: all setup test test-pycaffe lint format models proto demo demo-resnet bench pycaffe clean-venv $(MODELS)

all: models

# The venv is (re)built when setup.py or the pins change. torch comes first and pinned
# (constraints.txt) so that pip takes the CPU wheel and never the multi-GB CUDA build.
$(STAMP): setup.py constraints.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) torch
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-build-isolation -e '.[lmdb,torch]'
	touch $@

setup: $(STAMP)

# The main suite runs torchcaffe; then the real-pycaffe tier (tests/pycaffe), whose tests skip
# with the reason when pycaffe is not importable. A pycaffe built earlier by `make pycaffe` for
# this Python and numpy (in ~/.cache/fcn-toolkit) is linked into a fresh venv first.
test: $(STAMP)
	@bash scripts/build_pycaffe.sh link $(PY)
	@bash scripts/install_graphviz.sh
	FCN_ENGINE=torch $(PY) -m pytest -q -n $(JOBS) --dist loadfile --max-worker-restart 0 --durations=15 tests
	@$(MAKE) --no-print-directory test-pycaffe

test-pycaffe: $(STAMP)
	@bash scripts/build_pycaffe.sh link $(PY)
	FCN_ENGINE=caffe $(PY) -m pytest -q -n $(JOBS) --dist loadfile --max-worker-restart 0 --durations=5 tests/pycaffe

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# make voc-fcn8s -> models/voc-fcn8s/{train,val,deploy,solver}.prototxt
$(MODELS): $(STAMP)
	$(PY) -m zoo make $@

models: $(STAMP)
	$(PY) -m zoo make $(MODELS)

proto: $(STAMP)
	$(PY) caffeio/genproto.py

demo: $(STAMP)
	$(PY) -m solvers.demo

# The FCN-ResNet recipe (crops, batches, poly lr) on a synthetic Cityscapes twin: ~2-4 min.
demo-resnet: $(STAMP)
	$(PY) -m solvers.demo --recipe resnet

bench: $(STAMP)
	$(PY) -m bench

# BVLC Caffe + pycaffe for this venv, built outside the repository (~/.cache/fcn-toolkit/caffe/).
# CAFFE_SRC=<checkout, tarball folder or git mirror>, CUDA=1 for a GPU build, OPENCV=1 for a
# separate variant with OpenCV (ImageData, WindowData; the pycaffe tier checks them against it).
pycaffe: $(STAMP)
	bash scripts/build_pycaffe.sh build $(PY)

clean-venv:
	rm -rf $(VENV)
