"""Pieces every call-overhead benchmark shares (``bench/anthropic_overhead`` uses them; the
OpenAI bench predates them and keeps its own copy until it moves over):

* ``pipeline``: the common OTel SDK pipeline, an exporter that only counts spans;
* ``toggle``: switch an instrumentation's patches off and on in one process (a paired control);
* ``paired``: timed ABBA batches of the instrumented and the bare call, summarised;
* ``driver``: fresh worker processes, interleaved, and the Markdown table of their results.
"""
