"""Pieces every call-overhead benchmark (``bench/openai_overhead``, ``anthropic_overhead``,
``bedrock_overhead``) shares:

* ``pipeline``: the common OTel SDK pipeline, an exporter that only counts spans;
* ``toggle``: switch an instrumentation's patches off and on in one process (a paired control);
* ``paired``: timed ABBA batches of the instrumented and the bare call, summarised;
* ``process``: a worker's command line, its JSON line of result, the start-up measurement;
* ``workload``: the application's request and answer, the same for every provider;
* ``driver``: fresh worker processes, interleaved, and the Markdown table of their results;
* ``venvs.sh``: the venv steps of every ``setup.sh`` (OpenLIT's pinned venv among them);
* ``provider``: a whole provider bench (worker and driver) from declarations: the second wave's
  (Groq, Ollama, LiteLLM, Mistral, Cohere, Together) are one ``worker.py`` of them each.
"""
