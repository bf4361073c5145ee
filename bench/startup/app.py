"""The zero-code benchmark's app: imports openai (as an app that uses only openai does) and
reports how long that import took (genai-cost's patches go on inside it) and the process's RSS."""

import json
import sys
import time

t0 = time.perf_counter()
import openai  # noqa: E402, F401

import_ms = (time.perf_counter() - t0) * 1000
with open("/proc/self/status") as status:
    rss = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
sdks = [m for m in ("openai", "anthropic", "google.genai", "botocore") if m in sys.modules]
print(json.dumps({"import_ms": import_ms, "rss_end": rss, "sdks": sdks}))
