"""Answers over a spend store: ``query`` (the API), ``command`` (``genai-cost report``/``export``),
``focus`` (FinOps FOCUS rows), ``formats`` (table, JSON, CSV)."""
