"""A web app under a budget: attribution from request headers, a 429 with Retry-After when the
team's budget is spent, Slack-format alerts to a webhook, and the status table. One command:

    python examples/budgets/http_app.py

Everything is local: a Starlette app served by uvicorn on 127.0.0.1, the real openai SDK talking
to the provider stand-in, and a small HTTP server standing in for the Slack webhook.
It needs Starlette and uvicorn besides genai-cost and openai: ``pip install -e '.[examples]'``
from the checkout (the ``test`` extra has them too). Any ASGI framework works the same.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import genai_cost
from genai_cost.budget.status import format_table
from genai_cost.config import parse_settings
from genai_cost.middleware import GenAICostMiddleware
from genai_cost.testing import StubProvider

QUESTION = "Summarise our refund policy for a customer, in two sentences. " * 20


CHANNEL: list[str] = []  # what the Slack stand-in received
POSTED = threading.Condition()  # notified on each post to CHANNEL


class SlackStandIn(BaseHTTPRequestHandler):
    """Keeps what a Slack incoming webhook would post to the channel."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with POSTED:
            CHANNEL.append(body["text"])
            POSTED.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_in_thread(server: Any, **kwargs: Any) -> threading.Thread:
    thread = threading.Thread(target=server, kwargs=kwargs, daemon=True)
    thread.start()
    return thread


def build_app(client: openai.OpenAI) -> Starlette:
    def answer(request: Request) -> JSONResponse:
        reply = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": QUESTION}], max_tokens=100
        )
        return JSONResponse({"answer": reply.choices[0].message.content})

    app = Starlette(routes=[Route("/answer", answer)])
    app.add_middleware(GenAICostMiddleware, headers={"X-Team": "team", "X-User-Id": "user"})
    return app


def get(port: int, team: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/answer", headers={"X-Team": team, "X-User-Id": "u-7"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return f"{response.status}"
    except urllib.error.HTTPError as error:
        body = json.loads(error.read())
        return f"{error.code} Retry-After: {error.headers['Retry-After']} s, budget {body['budget']!r}"


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")
    slack = ThreadingHTTPServer(("127.0.0.1", 0), SlackStandIn)
    serve_in_thread(slack.serve_forever)
    settings = parse_settings(
        {
            "budgets": {
                "policies": [
                    {"name": "search-daily", "match": {"team": "search"}, "limit": 0.004, "window": "day",
                     "thresholds": [50, 80]},
                ]
            },
            "alerts": {"webhooks": [{"url": f"http://127.0.0.1:{slack.server_address[1]}/services/T0/B0/x",
                                     "format": "slack"}]},
        },
        "http_app.py",
    )  # fmt: skip
    genai_cost.configure(tracer_provider=TracerProvider(), settings=settings)

    with StubProvider() as stub, openai.OpenAI(base_url=stub.base_url, api_key="sk-example", max_retries=0) as client:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(build_app(client), log_level="warning"))
        thread = serve_in_thread(server.run, sockets=[sock])
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        port = sock.getsockname()[1]

        print("team search, until its daily budget is spent:")
        for _ in range(5):
            print(f"  GET /answer -> {get(port, 'search')}")
        print("team ads (no budget covers it):")
        print(f"  GET /answer -> {get(port, 'ads')}")
        print(f"the provider saw {len(stub.requests)} requests: the blocked ones never left the app")

        server.should_exit = True
        thread.join(5)
    with POSTED:  # alerts go out on their own thread: wait for both (bounded, for a loaded box)
        POSTED.wait_for(lambda: len(CHANNEL) >= 2, timeout=30)
    print("the Slack channel got:")
    for text in CHANNEL:
        print(f"  {text}")
    print()
    print(format_table(genai_cost.budget_status(), datetime.now(UTC)))


if __name__ == "__main__":
    main()
