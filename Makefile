# The two commands of the README: `make demo` and `make test`. Both set up what is missing first.
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup demo test test-partitioned image-test check lint typecheck format snapshot bench demo-video bench-federation nightly

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/atlas4d db start
	$(VENV)/atlas4d demo
	$(VENV)/atlas4d serve

test: setup
	$(VENV)/python -m pytest -q -p no:cacheprovider

# The API, ingest, tracks, tenancy, subscriptions and auth tests again, against a database whose
# observations_core was converted by `atlas4d db partition` first (docs/scaling.md §3: queries unchanged).
PARTITIONED_TESTS := tests/api/test_filters_oracle.py tests/api/test_rest_oracle.py tests/api/test_ingest.py \
	tests/api/test_bulk_ingest.py tests/api/test_aggregates_and_tracks.py tests/api/test_track_antimeridian.py \
	tests/api/test_time_slices.py tests/api/test_page_info.py tests/auth/test_tenancy.py \
	tests/streaming/test_subscriptions.py tests/streaming/test_tenancy_live.py tests/db/test_track_refresh.py
test-partitioned: setup
	ATLAS4D_TEST_PARTITIONED=month $(VENV)/python -m pytest -q -p no:cacheprovider $(PARTITIONED_TESTS)

# Builds deploy/Dockerfile with podman on base images debootstrapped from the Debian mirror (scripts/image.sh) and
# runs it against PostGIS (tests/deploy/test_image.py): too slow for `make test` when cold (docs/deploy.md §2);
# .ci/run runs it after `make test`. Needs root or password-less sudo.
image-test: setup
	ATLAS4D_IMAGE_TEST=1 $(VENV)/python -m pytest -q -p no:cacheprovider tests/deploy/test_image.py

lint: setup
	$(VENV)/ruff check src tests bench scripts clients/python/src
	$(VENV)/ruff format --check src tests bench scripts clients/python/src

typecheck: setup
	$(VENV)/mypy

check: lint typecheck test

format: setup
	$(VENV)/ruff format src tests bench clients/python/src
	$(VENV)/ruff check --fix src tests bench clients/python/src

snapshot: setup
	$(VENV)/python scripts/snapshot.py

bench: setup
	$(VENV)/python -m bench

bench-federation: setup
	$(VENV)/python -m bench.federation

# Records the quick start and the map page into docs/media/ (asciinema + Chromium + ffmpeg); not part of make test.
demo-video: setup
	bash scripts/demo_video/record.sh

# Longer runs of the randomised checks than `make test` affords (issue 15): the ingest concurrency test 100
# times, then the differential test with 5,000 operations and the planner's error lists compared too.
nightly: setup
	for i in $$(seq 100); do \
		$(VENV)/python -m pytest -q -p no:cacheprovider tests/api/test_ingest_concurrency.py || exit 1; done
	ATLAS4D_DIFFERENTIAL_EXAMPLES=5000 ATLAS4D_DIFFERENTIAL_PLANNER_ERRORS=1 \
		$(VENV)/python -m pytest -q -p no:cacheprovider tests/api/test_differential.py
