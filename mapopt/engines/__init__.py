"""Problem-independent combinatorial cores shared by several mapping problems."""
