"""CLI subcommands that need the config reader, kept above it (``cli.py`` registers them)."""
