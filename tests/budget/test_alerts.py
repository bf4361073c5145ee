"""Budget alerts delivered to a real HTTP server on 127.0.0.1: bodies, de-duplication, retries,
timeouts and the shutdown flush."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry import trace

from conftest import metric_points
from genai_cost.budget.alerts import AlertDispatcher, AlertSettings, alert_slack
from genai_cost.channels.webhook import InvalidWebhook, Webhook, backoff_delay, redact
from genai_cost.budget.state import BudgetAlert
from genai_cost.config import ConfigError, parse_settings

RESET = datetime(2027, 1, 1, tzinfo=UTC)
NEXT_RESET = datetime(2027, 2, 1, tzinfo=UTC)
HANG = "hang"
SLOW = "slow"


def alert(kind: str = "threshold", threshold: float | None = 80.0, **overrides: Any) -> BudgetAlert:
    fields: dict[str, Any] = {
        "kind": kind,
        "budget": "team-search",
        "scope": "",
        "window": "month",
        "window_name": "2026-12",
        "limit": 100.0,
        "spent": 81.5,
        "currency": "USD",
        "reset_at": RESET,
        "at": datetime(2026, 12, 20, tzinfo=UTC),
        "threshold": threshold if kind == "threshold" else None,
        **overrides,
    }
    return BudgetAlert(**fields)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """What the webhook server got, and what it answers next (status codes or HANG)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: deque[int | str] = field(default_factory=deque)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
        return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.arrived:
                state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                state.arrived.notify_all()
            answer = str(state.script.popleft()) if state.script else "200"
            if answer == HANG:
                state.release.wait(30)
                answer = "200"
            elif answer == SLOW:
                state.release.wait(0.3)
                answer = "200"
            status, _, extra = answer.partition(" ")  # "429 Retry-After: 0": a status and a header
            self.send_response(int(status))
            if extra:
                name, _, value = extra.partition(": ")
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def dispatcher(*webhooks: Webhook, **settings: Any) -> AlertDispatcher:
    return AlertDispatcher(AlertSettings(webhooks=webhooks, **settings))


def test_json_webhook_gets_the_alert_with_headers(receiver: Receiver) -> None:
    alerts = dispatcher(Webhook(f"{receiver.url}/hook", headers={"Authorization": "Bearer t0ken"}))
    alerts(alert())
    assert alerts.close(timeout=20)
    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer t0ken"
    body = request.body
    assert body["event"] == "genai_cost.budget.threshold"
    assert body["budget"] == "team-search"
    assert body["threshold"] == 80.0
    assert body["limit"] == 100.0 and body["spent"] == 81.5 and body["remaining"] == 18.5
    assert body["percent_spent"] == 81.5
    assert body["window"] == "month" and body["window_name"] == "2026-12"
    assert body["reset_at"] == RESET.isoformat()
    assert "team-search" in body["message"] and "80%" in body["message"]
    assert alerts.delivered == 1 and alerts.failed == 0


def test_each_threshold_once_per_window(receiver: Receiver) -> None:
    alerts = dispatcher(Webhook(receiver.url))
    for _ in range(3):
        alerts(alert(threshold=50.0))
        alerts(alert(threshold=80.0))
    for _ in range(5):  # every blocked call reports; one alert per window goes out
        alerts(alert("block", spent=100.0))
    # The next window fires the same thresholds again; another scope of a fan-out is its own alert.
    alerts(alert(threshold=50.0, window_name="2027-01", reset_at=NEXT_RESET))
    alerts(alert(threshold=50.0, scope="alice"))
    assert alerts.close(timeout=20)
    sent = sorted(
        (r.body["event"], r.body["threshold"], r.body["window_name"], r.body["scope"]) for r in receiver.requests
    )
    assert sent == [
        ("genai_cost.budget.block", None, "2026-12", ""),
        ("genai_cost.budget.threshold", 50.0, "2026-12", ""),
        ("genai_cost.budget.threshold", 50.0, "2026-12", "alice"),
        ("genai_cost.budget.threshold", 50.0, "2027-01", ""),
        ("genai_cost.budget.threshold", 80.0, "2026-12", ""),
    ]


def test_every_alert_goes_to_the_log_once(caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertDispatcher()  # no webhooks: the log alone
    with caplog.at_level(logging.DEBUG, logger="genai_cost.budget"):
        alerts(alert("block", spent=100.0))
        alerts(alert("block", spent=100.0))
        alerts(alert(threshold=95.0))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "budget team-search blocked a call: 100.0000 of 100.0000 USD" in warnings[0]
    assert "passed 95% of its limit" in warnings[1]
    assert [r.levelno for r in caplog.records].count(logging.DEBUG) == 1  # the repeat


def test_retries_on_500_then_succeeds(receiver: Receiver) -> None:
    receiver.script.extend([500, 503])
    alerts = dispatcher(Webhook(receiver.url, retries=3, backoff=0.01))
    alerts(alert())
    assert alerts.close(timeout=20)
    assert len(receiver.requests) == 3  # 500, 503, then 200
    assert all(r.body == receiver.requests[0].body for r in receiver.requests)
    assert alerts.delivered == 1 and alerts.failed == 0


def test_gives_up_after_its_retries(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.script.extend([500, 500, 500, 500])
    alerts = dispatcher(Webhook(f"{receiver.url}/T0/B0/secret", retries=2, backoff=0.01))
    with caplog.at_level(logging.WARNING, logger="genai_cost.budget"):
        alerts(alert())
        assert alerts.close(timeout=20)
    assert len(receiver.requests) == 3
    assert alerts.delivered == 0 and alerts.failed == 1
    gave_up = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert gave_up and "after 3 attempts (HTTP 500)" in gave_up[0]
    assert all("secret" not in r.getMessage() for r in caplog.records)  # the URL's path is a credential


def test_429_is_retried_no_sooner_than_retry_after(receiver: Receiver) -> None:
    receiver.script.append("429 Retry-After: 0")
    alerts = dispatcher(Webhook(receiver.url, retries=1, backoff=0.01))
    alerts(alert())
    assert alerts.close(timeout=20)
    assert len(receiver.requests) == 2 and alerts.delivered == 1
    slow = Webhook(receiver.url, backoff=0.01)
    assert all(backoff_delay(slow, 0, retry_after=2.0) >= 2.0 for _ in range(50))
    assert backoff_delay(slow, 0, retry_after=3600) == 30.0  # capped: one sender never stalls an hour
    assert all(0.005 <= backoff_delay(slow, 0) <= 0.01 for _ in range(50))  # equal jitter


def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.script.append(404)
    alerts = dispatcher(Webhook(receiver.url, retries=3, backoff=0.01))
    alerts(alert())
    assert alerts.close(timeout=20)
    assert len(receiver.requests) == 1
    assert alerts.failed == 1


def test_a_hanging_webhook_never_holds_the_caller(receiver: Receiver) -> None:
    receiver.script.append(HANG)
    alerts = dispatcher(Webhook(receiver.url, timeout=0.3, retries=0))
    alerts(alert())  # returns while the server holds the request open: off the call path
    assert not receiver.release.is_set()
    receiver.wait_for(1)
    alerts(alert(threshold=95.0))  # queued behind the hanging delivery; still no wait
    # The hanging attempt times out (the server is still holding it) and the next alert goes out.
    received = receiver.wait_for(2)
    assert not receiver.release.is_set()
    assert [r.body["threshold"] for r in received] == [80.0, 95.0]
    assert alerts.close(timeout=20)
    assert alerts.failed == 1 and alerts.delivered == 1


def test_a_hanging_webhook_does_not_delay_the_others(receiver: Receiver) -> None:
    with running_receiver() as hanging:
        hanging.script.extend([HANG, HANG])
        alerts = dispatcher(Webhook(hanging.url, timeout=30), Webhook(receiver.url))
        alerts(alert(threshold=50.0))
        alerts(alert(threshold=80.0))
        # Both reach the healthy receiver while the other still holds its first request open.
        assert [r.body["threshold"] for r in receiver.wait_for(2)] == [50.0, 80.0]
        assert len(hanging.wait_for(1)) == 1 and not hanging.release.is_set()
        hanging.release.set()
        assert alerts.close(timeout=20)
    assert alerts.delivered == 4


def test_shutdown_flush_is_bounded(receiver: Receiver) -> None:
    receiver.script.append(HANG)
    alerts = dispatcher(Webhook(receiver.url, timeout=60, retries=5))
    alerts(alert())
    receiver.wait_for(1)
    alerts(alert(threshold=95.0))
    # The receiver never answers; close() gives up at its bound instead of waiting 60 s x 6.
    assert alerts.close(timeout=0.5) is False
    receiver.release.set()


def test_full_queue_drops_instead_of_blocking(receiver: Receiver) -> None:
    receiver.script.append(HANG)
    alerts = dispatcher(Webhook(receiver.url, timeout=30), queue_size=1)
    for threshold in (10.0, 20.0, 30.0, 40.0):
        alerts(alert(threshold=threshold))
    assert alerts.dropped >= 2  # one in flight (or queued), one queued, the rest dropped
    receiver.release.set()
    assert alerts.close(timeout=20)


def test_slack_format_shape(receiver: Receiver) -> None:
    alerts = dispatcher(Webhook(receiver.url, format="slack"))
    alerts(alert("block", spent=100.0, scope="alice"))
    assert alerts.close(timeout=20)
    [request] = receiver.requests
    body = request.body
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith(":no_entry: budget team-search[alice] blocked a call")
    section, details = body["blocks"]
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": body["text"]}}
    assert details["type"] == "section"
    texts = [f["text"] for f in details["fields"]]
    assert all(f["type"] == "mrkdwn" for f in details["fields"])
    assert "*Spent*\n100.0000 USD" in texts
    assert "*Limit*\n100.0000 USD per month" in texts
    assert "*Scope*\nalice" in texts
    assert any(t.startswith(f"*Resets*\n<!date^{int(RESET.timestamp())}^") for t in texts)
    assert len(details["fields"]) <= 10  # Slack's limit per section


def test_downgrade_and_warn_are_described() -> None:
    downgraded = alert_slack(alert("downgrade", spent=101.0, model="gpt-4o", downgrade_to="gpt-4o-mini"))
    assert "budget team-search downgraded gpt-4o to gpt-4o-mini" in downgraded["text"]
    warned = alert_slack(alert("warn", spent=101.0))
    assert warned["text"].startswith(":warning:") and "calls go on" in warned["text"]


def test_a_broken_alert_never_raises_into_the_call() -> None:
    alerts = AlertDispatcher()
    alerts(object())  # type: ignore[arg-type]  # not an alert at all: logged, swallowed


def test_webhook_settings_are_validated() -> None:
    with pytest.raises(InvalidWebhook, match="url"):
        Webhook("hooks.slack.com/services/x")
    with pytest.raises(InvalidWebhook, match="format"):
        Webhook("https://example.com", format="xml")
    assert redact("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com/…"


def test_alerts_config_section() -> None:
    settings = parse_settings(
        {
            "alerts": {
                "webhooks": [
                    {"url": "https://hooks.slack.com/services/T0/B0/x", "format": "slack"},
                    {"url": "https://ops.example.com/h", "timeout": 2, "retries": 1, "headers": {"X-Key": "k"}},
                ],
                "shutdown_timeout": 3,
            }
        },
        "genai-cost.yaml",
    )
    slack, ops = settings.alerts.webhooks
    assert slack.format == "slack" and slack.retries == 3
    assert (ops.timeout, ops.retries, dict(ops.headers)) == (2.0, 1, {"X-Key": "k"})
    assert settings.alerts.shutdown_timeout == 3.0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"alerts": {"webhook": []}}, "genai-cost.yaml: alerts.webhook: unknown key"),
        ({"alerts": {"webhooks": [{"format": "json"}]}}, "genai-cost.yaml: alerts.webhooks[0].url: is required"),
        ({"alerts": {"webhooks": [{"url": "ftp://x"}]}}, "genai-cost.yaml: alerts.webhooks[0].url: expected an http"),
        (
            {"alerts": {"webhooks": [{"url": "http://x", "format": "teams"}]}},
            "genai-cost.yaml: alerts.webhooks[0].format: expected one of json, slack, got 'teams'",
        ),
        ({"alerts": {"webhooks": [{"url": "http://x", "retries": -1}]}}, "alerts.webhooks[0].retries: expected an"),
        ({"alerts": {"webhooks": [{"url": "http://x", "timeout": 0}]}}, "alerts.webhooks[0].timeout: expected a"),
        ({"alerts": {"webhooks": [{"url": "http://x", "retry": 1}]}}, "alerts.webhooks[0].retry: unknown key"),
    ],
)
def test_bad_alerts_config_names_file_key_problem(document: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(document, "genai-cost.yaml")
    assert message in str(error.value)


def test_guard_alerts_reach_the_webhook_once_per_threshold_per_window(receiver: Receiver) -> None:
    from genai_cost import attributes as attr
    from genai_cost.budget.guard import BudgetGuard
    from genai_cost.budget.ledger.memory import MemoryLedger
    from genai_cost.budget.policy import BudgetPolicy

    now = [datetime(2026, 12, 20, tzinfo=UTC).timestamp()]
    guard = BudgetGuard(
        [BudgetPolicy("team-search", limit=1.0, thresholds=(50, 80))], MemoryLedger(), clock=lambda: now[0]
    )
    alerts = dispatcher(Webhook(receiver.url))
    guard.on_alert.append(alerts)
    call = {attr.REQUEST_MODEL: "gpt-4o-mini", attr.PROVIDER_NAME: "openai"}

    def spend(amount: float) -> str:
        decision = guard.reserve(call, input_tokens=10, max_output_tokens=10)
        assert decision is not None
        if not decision.blocked:
            guard.settle(decision, amount)
        return decision.decision

    assert [spend(a) for a in (0.3, 0.3, 0.1, 0.15, 0.2)] == ["allow"] * 5  # 0.6 > 50%, 0.85 > 80%, 1.05
    assert [spend(0.1), spend(0.1)] == ["block", "block"]
    now[0] = datetime(2027, 1, 2, tzinfo=UTC).timestamp()  # January: a fresh window
    assert spend(0.55) == "allow"
    assert alerts.close(timeout=20)
    sent = [(r.body["kind"], r.body["threshold"], r.body["window_name"]) for r in receiver.requests]
    assert sorted(sent, key=str) == sorted(
        [("threshold", 50.0, "2026-12"), ("threshold", 80.0, "2026-12"), ("block", None, "2026-12"),
         ("threshold", 50.0, "2027-01")],
        key=str,
    )  # fmt: skip
    guard.close()


def remaining(reader: Any) -> dict[str, float]:
    from genai_cost import attributes as attr

    points = metric_points(reader, attr.METRIC_BUDGET_REMAINING)
    return {p.attributes[attr.BUDGET_NAME]: p.value for p in points}


def test_configure_sends_the_guards_alerts_and_exports_the_gauge(receiver: Receiver, metric_reader: Any) -> None:
    import genai_cost
    from genai_cost import attributes as attr
    from genai_cost.budget import active_guard, install_guard
    from genai_cost.config import Settings

    settings = parse_settings(
        {
            "budgets": {"policies": [{"name": "wired", "limit": 2.0, "thresholds": [50]}]},
            "alerts": {"webhooks": [{"url": f"{receiver.url}/wired", "format": "slack"}]},
        }
    )
    genai_cost.configure(tracer_provider=trace.get_tracer_provider(), settings=settings, instrument=False)  # type: ignore[arg-type]
    guard = active_guard()
    try:
        assert guard is not None
        decision = guard.reserve({attr.REQUEST_MODEL: "gpt-4o-mini"}, input_tokens=10, max_output_tokens=10)
        assert decision is not None
        guard.settle(decision, 1.25)
        [request] = receiver.wait_for(1)
        assert request.path == "/wired"
        assert "budget wired passed 50% of its limit" in request.body["text"]
        assert remaining(metric_reader) == {"wired": pytest.approx(0.75, abs=1e-9)}
    finally:
        genai_cost.configure(tracer_provider=trace.get_tracer_provider(), settings=Settings(), instrument=False)  # type: ignore[arg-type]
        install_guard(None)
    assert active_guard() is None
    assert remaining(metric_reader) == {}  # budgets off: nothing to report


EXITING_APP = """
import atexit
import sys
from datetime import UTC, datetime
from genai_cost.budget.alerts import AlertDispatcher, AlertSettings
from genai_cost.channels.webhook import Webhook
from genai_cost.budget.state import BudgetAlert

# Registered first, so it runs last: after genai-cost's own exit hook has flushed (or given up).
atexit.register(lambda: print("delivered at exit:", alerts.delivered, flush=True))
settings = AlertSettings(webhooks=(Webhook(sys.argv[1], timeout=60),), shutdown_timeout=float(sys.argv[2]))
alerts = AlertDispatcher(settings)
alerts(BudgetAlert(kind="block", budget="b", scope="", window="day", window_name="2026-12-20", limit=1.0,
                   spent=1.0, currency="USD", reset_at=datetime(2026, 12, 21, tzinfo=UTC),
                   at=datetime(2026, 12, 20, tzinfo=UTC)))
print("exiting", flush=True)  # straight away: the alert is still queued or in flight
"""


def run_exiting_app(url: str, shutdown_timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", EXITING_APP, url, str(shutdown_timeout)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_alerts_pending_at_exit_are_delivered(receiver: Receiver) -> None:
    receiver.script.append(SLOW)  # answers after 0.3 s: long after the app's main thread is done
    result = run_exiting_app(f"{receiver.url}/at-exit", 10)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "exiting\ndelivered at exit: 1\n"  # the exit hook waited for the answer
    [request] = receiver.requests
    assert request.path == "/at-exit" and request.body["kind"] == "block"


def test_exit_is_not_held_by_a_hanging_webhook(receiver: Receiver) -> None:
    receiver.script.append(HANG)  # holds the request until the test ends
    result = run_exiting_app(receiver.url, 0.5)
    # The process ended (within the subprocess timeout, far below the webhook's 60 s) and said why.
    assert result.returncode == 0, result.stderr
    assert "budget alerts still pending after 0.5 s at shutdown" in result.stderr
    assert result.stdout == "exiting\ndelivered at exit: 0\n"
    assert not receiver.release.is_set() and len(receiver.requests) == 1
