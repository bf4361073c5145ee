"""CLI subcommands, above the config reader and the packages they drive (``cli.py`` registers them):
``budget status``, ``report`` / ``export focus``, ``anomalies`` / ``digest``."""
