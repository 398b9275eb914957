# `make demo`: set everything up and run a real tuning job on the bundled example.
# `make test`: set everything up and run every test, in both worlds:
#   .venv    Python 3.11, TensorFlow 2.15 with tf.estimator (Keras 2), numpy < 2: the whole suite;
#   .venv312 Python 3.12, today's TensorFlow with Keras 3, numpy 2: the trial side, tune() and
#            the Keras notebook ($(TESTS312)).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PYTHON312 ?= $(shell p="$$(pyenv root 2>/dev/null)/versions/3.12.1/bin/python3.12"; \
               if [ -x "$$p" ]; then echo "$$p"; else command -v python3.12; fi)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENV312 := .venv312
STAMP312 := $(VENV312)/.installed
GPU := $(shell nvidia-smi >/dev/null 2>&1 && echo yes)
TF_PKG := $(if $(GPU),tensorflow[and-cuda]==2.15.1,tensorflow-cpu==2.15.1)
TF312_VERSION ?= 2.21.0
TF312_PKG := $(if $(GPU),tensorflow[and-cuda]==$(TF312_VERSION),tensorflow-cpu==$(TF312_VERSION))
TESTS312 := tests/test_keras.py tests/test_report.py tests/test_context.py \
            tests/test_hypertune.py tests/observe tests/channel tests/estimator/test_availability.py \
            tests/launch tests/test_train_fn.py tests/test_notebook.py tests/test_display.py \
            tests/trainer_examples/test_notebooks.py
DEMO_JOB ?= babyweight_demo_$(shell date +%Y%m%d_%H%M%S)
DEMO_DIR ?= out/demo

.PHONY: venv venv312 demo test test311 test312 clean

venv: $(STAMP)
venv312: $(STAMP312)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,notebook,ray]' '$(TF_PKG)' 'tensorflow-estimator==2.15.0' 'numpy<2'
	touch $(STAMP)

$(STAMP312): setup.py
	$(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install -q --upgrade pip
	$(VENV312)/bin/python -m pip install -q -e '.[test,notebook]' '$(TF312_PKG)' 'tensorboard>=2.16'
	touch $(STAMP312)

demo: $(STAMP)
	cd trainer_examples && ../$(BIN)/tf-hptune jobs submit training $(DEMO_JOB) \
	    --config ../configs/demo.yaml --module-name trainer.task \
	    --package-path babyweight/trainer --job-dir ../$(DEMO_DIR)/$(DEMO_JOB) --wait \
	    -- --train_examples 20000 --eval_steps 20

test: test311 test312

test311: $(STAMP)
	$(BIN)/python -m pytest -q

test312: $(STAMP312)
	$(VENV312)/bin/python -m pytest -q $(TESTS312)

clean:
	rm -rf $(VENV) $(VENV312) out
