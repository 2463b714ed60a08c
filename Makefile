# Two commands do all the set-up:  `make demo`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# --isolated: ignore this machine's pip config, so torch and torchvision come as a matching
# pair from the package index (a local CPU-only torch wheel cannot load the index's torchvision).
PIP := $(PY) -m pip install --isolated --disable-pip-version-check

.PHONY: setup demo demo-plates test bench clean
setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	bash tools/install_system_deps.sh  # Chromium (dashboard tests), GStreamer RTSP server (RTSP tests)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) -q --upgrade pip
	$(PIP) -e '.[test]'
	$(PY) -c "import torch, torchvision, av, cv2, ray, zmq, easyocr; torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)"
	touch $@

demo: setup
	$(VENV)/bin/streamdeblur run configs/demo.yaml --duration 30

demo-plates: setup
	test -f data/plates-demo.mp4 || $(VENV)/bin/streamdeblur ocr-demo-clip data/plates-demo.mp4
	$(VENV)/bin/streamdeblur run configs/demo-plates.yaml --duration 60

test: setup
	$(PY) -m pytest

bench: setup
	$(VENV)/bin/streamdeblur bench

clean:
	rm -rf $(VENV) build *.egg-info
