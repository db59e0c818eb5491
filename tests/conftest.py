"""Property-based tests run derandomized by default, so a test run is reproducible (same examples
every time); ``HYPOTHESIS_PROFILE=explore`` searches with fresh random examples and more of them."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
