"""genai-cost's version, in a module of its own so that any layer can name it without importing
the package's lazy front door (``genai_cost/__init__.py``) and what it re-exports."""

__version__ = "0.1.0"
