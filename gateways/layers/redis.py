"""``redis://`` and ``rediss://`` layers (being built; see issue 5)."""
