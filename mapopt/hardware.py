"""Crossbar hardware: sizes, bit widths, slice layout and the cost laws that price an OU activation.

`HardwareSpec` is a frozen record; `preset(name)` gives the settings of the seed papers
(see ``../shared/DESIGN.md``). Slices are listed most significant first, as the seeds
write them (``[1, 2, 2, 2]``); each logical column also carries its shift explicitly, so
nothing depends on the slice index order.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import HardwareError

SLICE_LAYOUTS = ("adjacent", "per_crossbar")
POLARITIES = ("differential", "offset")

# ADC energy (pJ per conversion) and area (um^2) against resolution: ISAAC-derived SAR,
# 32 nm, 1.2 GS/s (hwcomponents-library isaac.py, as tabulated in
# ../shared/notes/seed-formulations.md section 0.2(v)).
_ISAAC_ADC_BITS = np.array([4, 5, 6, 7, 8, 9, 10])
_ISAAC_ADC_PJ = np.array([0.79, 0.99, 1.20, 1.42, 1.67, 1.97, 2.38])
_ISAAC_ADC_UM2 = np.array([361.0, 477.0, 627.0, 845.0, 1200.0, 1828.0, 3002.0])


def _table_law(bits: int, values: np.ndarray) -> float:
    """Tabulated value at `bits`; linear in bits below the table, geometric above it.

    Below 4 b a SAR ADC's energy is close to linear in its resolution (ZigZag's AIMC law,
    ``../shared/notes/simulators.md`` 3.4), so we scale the 4-bit point by ``bits / 4``;
    above 10 b we continue the 9-to-10-bit ratio. Both are stated assumptions, not data.
    """
    lo, hi = int(_ISAAC_ADC_BITS[0]), int(_ISAAC_ADC_BITS[-1])
    if bits < lo:
        return float(values[0] * bits / lo)
    if bits > hi:
        return float(values[-1] * (values[-1] / values[-2]) ** (bits - hi))
    return float(values[bits - lo])


@dataclass(frozen=True)
class CostLaws:
    """Energy (pJ) and area (um^2) of the parts an OU activation uses.

    Sources: ADC table ISAAC via hwcomponents (32 nm SAR, 1.2 GS/s); DAC 1-bit
    0.4167 pJ and 0.166 um^2 (ISAAC, hwcomponents ``isaac.py``), doubled per extra bit
    (MNSIM ``DAC.py`` area law); shift-and-add 0.021 pJ, 60 um^2 (ISAAC); array energy per
    OU activation, when not given, from the crossbar read power, 0.3 mW per 128x128 array
    for one 7.68 ns OU cycle (PRAP-PIM / PP_sim ``HardwareConfig.py``), scaled by the share
    of cells the OU switches on; index-buffer read 0.05 pJ per index and 0.3 um^2 of SRAM per
    bit (assumptions, CACTI-order at 32 nm); ReRAM cell 0.0576 um^2 (4F^2 at F = 120 nm,
    assumption).
    """

    array_pj_per_ou: float | None = None
    dac_pj_1bit: float = 0.4167
    dac_um2_1bit: float = 0.166
    shift_add_pj: float = 0.021
    shift_add_um2: float = 60.0
    index_read_pj: float = 0.05
    sram_um2_per_bit: float = 0.3
    cell_um2: float = 0.0576
    source: str = "ISAAC (hwcomponents isaac.py), PP_sim HardwareConfig.py"

    def adc_pj(self, bits: int) -> float:
        """Energy of one conversion at `bits` of resolution, in pJ."""
        return _table_law(bits, _ISAAC_ADC_PJ)

    def adc_um2(self, bits: int) -> float:
        """Area of one ADC at `bits` of resolution, in um^2."""
        return _table_law(bits, _ISAAC_ADC_UM2)

    def array_pj(self, ou_cells: int) -> float:
        """Array energy of one OU activation switching `ou_cells` cells on, in pJ."""
        if self.array_pj_per_ou is not None:
            return self.array_pj_per_ou
        return 0.3e-3 * 7.68e-9 * 1e12 * ou_cells / (128 * 128)

    def dac_pj(self, bits: int) -> float:
        """Energy of one DAC conversion of `bits`, in pJ (doubles per bit)."""
        return self.dac_pj_1bit * 2 ** (bits - 1)

    def dac_um2(self, bits: int) -> float:
        """Area of one DAC of `bits`, in um^2 (doubles per bit)."""
        return self.dac_um2_1bit * 2 ** (bits - 1)


@dataclass(frozen=True)
class HardwareSpec:
    """One crossbar design: what a mapping must fit and what its OU activations cost.

    Parameters
    ----------
    xbar_rows, xbar_cols : crossbar size in cells (wordlines x bitlines).
    ou_rows, ou_cols : OU size ``h x w``, the block switched on in one cycle.
    cell_bits : bits stored per ReRAM cell ``b``.
    weight_bits : quantized weight width ``B`` including the sign.
    slice_widths : bits of each slice, most significant first; they add up to the magnitude
        bits (``B - 1`` for a differential pair, ``B`` for offset encoding) and each fits a cell.
        Empty means uniform slices of ``cell_bits`` (the most significant one narrower).
    slice_layout : ``adjacent`` (a weight's slices in neighbouring columns) or
        ``per_crossbar`` (one crossbar set per slice).
    polarity : ``differential`` (positive and negative crossbar sets) or ``offset``
        (stored value ``q + 2^(B-1) - 1``, corrected digitally).
    dac_bits, input_bits : an unsigned input of ``input_bits`` is fed in
        ``ceil(input_bits / dac_bits)`` cycles.
    adc_bits : one resolution, or one per slice (most significant first).
    """

    xbar_rows: int = 128
    xbar_cols: int = 128
    ou_rows: int = 9
    ou_cols: int = 8
    cell_bits: int = 2
    weight_bits: int = 8
    slice_widths: tuple[int, ...] = ()
    slice_layout: str = "adjacent"
    polarity: str = "differential"
    dac_bits: int = 1
    input_bits: int = 8
    adc_bits: int | tuple[int, ...] = 6
    costs: CostLaws = field(default_factory=CostLaws)
    name: str = "custom"

    def __post_init__(self) -> None:
        for name in ("slice_widths",) + (() if isinstance(self.adc_bits, int) else ("adc_bits",)):
            if any(not isinstance(v, (int, np.integer)) or isinstance(v, bool) for v in getattr(self, name)):
                raise HardwareError(f"{name} must be integers, got {list(getattr(self, name))}")
        if isinstance(self.adc_bits, bool):
            raise HardwareError(f"adc_bits must be an integer, got {self.adc_bits!r}")
        if not self.slice_widths:
            object.__setattr__(self, "slice_widths", _uniform_slices(self.magnitude_bits, self.cell_bits))
        object.__setattr__(self, "slice_widths", tuple(int(s) for s in self.slice_widths))
        if not isinstance(self.adc_bits, int):
            object.__setattr__(self, "adc_bits", tuple(int(a) for a in self.adc_bits))
        check_hardware(self)

    @property
    def magnitude_bits(self) -> int:
        """Bits the slices must cover: ``B - 1`` with a differential pair, ``B`` with an offset."""
        return self.weight_bits - 1 if self.polarity == "differential" else self.weight_bits

    @property
    def n_slices(self) -> int:
        return len(self.slice_widths)

    @property
    def slice_shifts(self) -> tuple[int, ...]:
        """Left shift of each slice (most significant first) when recombining a weight."""
        widths = self.slice_widths
        return tuple(int(sum(widths[i + 1:])) for i in range(len(widths)))

    @property
    def input_cycles(self) -> int:
        """DAC cycles per input vector: ``ceil(A / d)``."""
        return math.ceil(self.input_bits / self.dac_bits)

    @property
    def n_polarities(self) -> int:
        return 2 if self.polarity == "differential" else 1

    @property
    def offset(self) -> int:
        """Value added to every stored weight under offset encoding (0 for differential)."""
        return 2 ** (self.weight_bits - 1) - 1 if self.polarity == "offset" else 0

    def adc_for_slice(self, s: int) -> int:
        """Configured ADC resolution of the columns holding slice `s`."""
        return self.adc_bits if isinstance(self.adc_bits, int) else self.adc_bits[s]

    def adc_caps(self) -> np.ndarray:
        """Largest partial sum each slice's ADC reads without clipping: ``2^a - 1``."""
        return np.array([2 ** self.adc_for_slice(s) - 1 for s in range(self.n_slices)], dtype=np.int64)

    def replace(self, **changes) -> "HardwareSpec":
        """A copy with some settings changed (and checked again)."""
        if "slice_widths" not in changes and {"cell_bits", "weight_bits", "polarity"} & changes.keys():
            changes["slice_widths"] = ()
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-able settings (cost laws are identified by their source)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "costs"}
        d["slice_widths"] = list(self.slice_widths)
        if not isinstance(self.adc_bits, int):
            d["adc_bits"] = list(self.adc_bits)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HardwareSpec":
        """Inverse of `to_dict`; a preset's name brings back its cost laws; unknown keys are an error."""
        costs = _PRESETS.get(d.get("name"), {}).get("costs", CostLaws())
        return cls(**_settings(d), costs=costs)


def _settings(values: dict) -> dict:
    """Hardware settings by `HardwareSpec` field name, lists as tuples; an unknown name is an error."""
    unknown = set(values) - ({f.name for f in dataclasses.fields(HardwareSpec)} - {"costs"})
    if unknown:
        raise HardwareError(f"unknown hardware settings: {', '.join(sorted(unknown))}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _uniform_slices(magnitude_bits: int, cell_bits: int) -> tuple[int, ...]:
    if magnitude_bits <= 0 or cell_bits <= 0:
        return ()
    full, rest = divmod(magnitude_bits, cell_bits)
    return ((rest,) if rest else ()) + (cell_bits,) * full


#: the largest crossbar side mapopt accepts (real ReRAM arrays stay at or below 1024)
MAX_XBAR = 8192


def check_hardware(spec: HardwareSpec) -> None:
    """Raise `HardwareError` naming the first setting no crossbar can have."""
    for name in ("xbar_rows", "xbar_cols", "ou_rows", "ou_cols", "cell_bits", "weight_bits",
                 "dac_bits", "input_bits"):
        value = getattr(spec, name)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise HardwareError(f"{name} must be a positive integer, got {value!r}")
    for name in ("xbar_rows", "xbar_cols"):
        if getattr(spec, name) > MAX_XBAR:
            raise HardwareError(f"{name} must be at most {MAX_XBAR} (the simulator holds every cell), "
                                f"got {getattr(spec, name)}")
    if spec.ou_rows > spec.xbar_rows or spec.ou_cols > spec.xbar_cols:
        raise HardwareError(f"OU {spec.ou_rows}x{spec.ou_cols} is larger than the crossbar "
                            f"{spec.xbar_rows}x{spec.xbar_cols}")
    if spec.slice_layout not in SLICE_LAYOUTS:
        raise HardwareError(f"slice_layout must be one of {SLICE_LAYOUTS}, got {spec.slice_layout!r}")
    if spec.polarity not in POLARITIES:
        raise HardwareError(f"polarity must be one of {POLARITIES}, got {spec.polarity!r}")
    if spec.weight_bits < 2 or spec.weight_bits > 16:
        raise HardwareError(f"weight_bits must be between 2 and 16, got {spec.weight_bits}")
    if spec.input_bits > 16:
        raise HardwareError(f"input_bits must be at most 16, got {spec.input_bits}")
    if spec.dac_bits > spec.input_bits:
        raise HardwareError(f"dac_bits {spec.dac_bits} exceeds input_bits {spec.input_bits}")
    widths = spec.slice_widths
    if not widths or any(w <= 0 for w in widths):
        raise HardwareError(f"slice widths must be positive, got {list(widths)}")
    if sum(widths) != spec.magnitude_bits:
        raise HardwareError(f"slice widths {list(widths)} add up to {sum(widths)} bits, but a "
                            f"{spec.polarity} {spec.weight_bits}-bit weight has {spec.magnitude_bits}")
    if max(widths) > spec.cell_bits:
        raise HardwareError(f"slice of {max(widths)} bits does not fit a {spec.cell_bits}-bit cell")
    adc = (spec.adc_bits,) if isinstance(spec.adc_bits, int) else spec.adc_bits
    if not isinstance(spec.adc_bits, int) and len(adc) != len(widths):
        raise HardwareError(f"{len(adc)} ADC resolutions given for {len(widths)} slices")
    if any(a <= 0 or a > 16 for a in adc):
        raise HardwareError(f"ADC resolutions must lie in 1..16 bits, got {list(adc)}")


_PRESETS = {
    # Seed 003 (Yu et al.): 512x512 arrays, OU 9x8, 4 bits per cell, 8-bit weights in two
    # slices, 8-bit ADC; array energy 4.8 pJ per OU operation (seed table). The seed's 4-bit
    # DAC is not kept: 9 rows of 4-bit cells under a 4-bit DAC sum to up to 2025, beyond an
    # 8-bit ADC, so no mapping would be exact; with a 1-bit DAC the worst case is 135 <= 255.
    # Use preset("pattern", dac_bits=4) to study the seed's setting (the simulator then reports clipping).
    "pattern": dict(xbar_rows=512, xbar_cols=512, ou_rows=9, ou_cols=8, cell_bits=4,
                    weight_bits=8, slice_widths=(3, 4), dac_bits=1, input_bits=8, adc_bits=8,
                    costs=CostLaws(array_pj_per_ou=4.8)),
    # SRE-style ORC (as cited by PRAP-PIM's simulator): 128x128, OU 9x8, 2-bit cells, 6-bit ADC.
    "orc": dict(xbar_rows=128, xbar_cols=128, ou_rows=9, ou_cols=8, cell_bits=2,
                weight_bits=8, dac_bits=1, input_bits=8, adc_bits=6),
    # PRAP-PIM public simulator config: 128x128, OU 8x8, 1-bit cells, 6-bit ADC.
    "reuse": dict(xbar_rows=128, xbar_cols=128, ou_rows=8, ou_cols=8, cell_bits=1,
                  weight_bits=8, dac_bits=1, input_bits=8, adc_bits=6),
    # Seed 002 (bit-slice L1): slices [1,2,2,2], 1-bit ADC for the top slice, 3-bit for the rest.
    "bitslice": dict(xbar_rows=128, xbar_cols=128, ou_rows=9, ou_cols=8, cell_bits=2,
                     weight_bits=8, slice_widths=(1, 2, 2, 2), slice_layout="per_crossbar",
                     dac_bits=1, input_bits=8, adc_bits=(1, 3, 3, 3)),
}
PRESETS = tuple(_PRESETS)


def preset(name: str, **overrides) -> HardwareSpec:
    """The hardware of a seed paper by name (``pattern``, ``orc``, ``reuse``, ``bitslice``)."""
    if name not in _PRESETS:
        raise HardwareError(f"unknown hardware preset {name!r}; choose from {', '.join(PRESETS)}")
    return HardwareSpec(**{**_PRESETS[name], "name": name, **overrides})


def design(name: str, overrides: dict | None = None, weight_bits: int | None = None) -> HardwareSpec:
    """Preset `name` with some settings overridden (by field name, as `--hardware FILE` and `--hw KEY=VALUE` give
    them), at a layer's `weight_bits` (which comes from its quantization, never from the hardware settings)."""
    if "weight_bits" in (overrides or {}):
        raise HardwareError("weight_bits comes from the layers' quantization (import --weight-bits), "
                            "not from the hardware settings")
    changes = _settings(overrides or {})
    base = preset(name) if weight_bits is None else preset(name, weight_bits=weight_bits)
    return base.replace(**changes) if changes else base


def read_hardware(path: str | Path) -> tuple[str | None, dict]:
    """Hardware settings from a ``.json`` or ``.toml`` file: the preset they start from (key ``preset``, None
    when absent) and the settings they override, by `HardwareSpec` field name; checked by `design`."""
    path = Path(path)
    if path.suffix not in (".json", ".toml"):
        raise HardwareError(f"{path}: hardware files are .json or .toml, got {path.suffix or 'no extension'!r}")
    if not path.is_file():
        raise HardwareError(f"{path}: no such hardware file")
    if path.suffix == ".toml":
        try:
            import tomllib
        except ImportError:
            raise HardwareError(f"{path}: TOML needs Python 3.11 or later; write the settings as .json") from None
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HardwareError(f"{path}: not valid {path.suffix[1:].upper()} ({' '.join(str(exc).split())[:160]})") from None
    if not isinstance(data, dict):
        raise HardwareError(f"{path}: expected an object of hardware settings, got {type(data).__name__}")
    name = data.pop("preset", None)
    if name is not None and not isinstance(name, str):
        raise HardwareError(f"{path}: preset must be a preset name, got {name!r}")
    return name, data
