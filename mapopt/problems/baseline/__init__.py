"""The two reference mappings every gain is measured against: ``dense`` and ``orc``."""
