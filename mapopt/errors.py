"""Exceptions with meaning: every user-facing error is one line naming what is wrong."""


class MapoptError(ValueError):
    """Base class of errors caused by bad input (files, settings, arguments)."""


class HardwareError(MapoptError):
    """A hardware setting that no crossbar can have (sizes, bit widths, slices)."""


class InstanceError(MapoptError):
    """A malformed, unreadable or inconsistent instance or solution file."""


class SolverError(MapoptError):
    """An unknown problem or method, or parameters a solver cannot accept."""
