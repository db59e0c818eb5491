"""mapopt: crossbar mappings of DNN layers that minimise hardware cost, each validated by one simulator."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mapopt")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
