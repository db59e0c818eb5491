"""Bit-slice packing under ADC-resolution limits (``--problem bitslice-packing``; ``formulations/bitslice_packing.md``)."""
