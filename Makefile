# `make demo`: set everything up and run a real tuning job on the bundled example.
# `make test`: set everything up and run every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TF_PKG := $(shell if nvidia-smi >/dev/null 2>&1; then echo 'tensorflow[and-cuda]==2.15.1'; \
            else echo 'tensorflow-cpu==2.15.1'; fi)
DEMO_JOB ?= babyweight_demo_$(shell date +%Y%m%d_%H%M%S)
DEMO_DIR ?= out/demo

.PHONY: venv demo test clean

venv: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,ray]' '$(TF_PKG)' 'tensorflow-estimator==2.15.0' 'numpy<2'
	touch $(STAMP)

demo: $(STAMP)
	cd trainer_examples && ../$(BIN)/tf-hptune jobs submit training $(DEMO_JOB) \
	    --config ../configs/demo.yaml --module-name trainer.task \
	    --package-path babyweight/trainer --job-dir ../$(DEMO_DIR)/$(DEMO_JOB) --wait \
	    -- --train_examples 20000 --eval_steps 20

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out
