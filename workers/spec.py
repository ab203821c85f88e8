"""Model-config schema (see issue 3)."""
