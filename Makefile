# The two commands of the README:
#   make demo   set everything up, start the local stack and replay a flash sale through it (report at the end)
#   make test   set everything up and run lint, types and all tests (what CI runs)
VENV ?= .venv
FLOODWALL := $(VENV)/bin/floodwall

.PHONY: setup demo test down readme-chart
setup:
	scripts/setup.sh

demo: setup
	$(FLOODWALL) demo $(DEMO_ARGS)

test: setup
	scripts/test.sh

down:
	$(FLOODWALL) stack down

# The README's chart: a default demo run's report.png, copied into docs/ (commit it with the figures).
readme-chart: setup
	$(FLOODWALL) demo --report-dir floodwall-demo-report $(DEMO_ARGS)
	cp floodwall-demo-report/report.png docs/images/demo-report.png
