"""Side-by-side overhead of LiteLLM instrumentations; prints a Markdown table.

    bash bench/litellm_overhead/setup.sh            # once: bench/.venv-litellm
    python3 bench/litellm_overhead/run.py           # a few minutes on a 2-core machine
    python3 bench/litellm_overhead/run.py --quick   # faster, noisier

Variants: ``worker.py``; method: ``bench/harness/provider.py`` (the OpenAI bench's, bench/README.md).
"""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).with_name("worker.py")), run_name="__main__")
