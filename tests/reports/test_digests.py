"""Digests to real receivers: an SMTP server (plain, and STARTTLS with a login), a webhook (JSON)
and a Slack-format webhook, from `genai-cost digest` as cron would run it and from the gateway's
live loop; plus the e-mail channel's own errors."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from datetime import timedelta
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import traffic
from mail_server import MailServer

from genai_cost.channels.webhook import Webhook
from genai_cost.channels.email import EmailChannel, EmailNotSent, InvalidEmail
from genai_cost.cli import main
from genai_cost.pricing import PriceCatalog
from genai_cost.reports.digest import Channels
from genai_cost.reports.live import DigestSchedule, LiveAnswers
from genai_cost.reports.query import totals
from genai_cost.store import open_store

DAY, NEXT = traffic.DAY, traffic.DAY + timedelta(days=1)


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, Hook.received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("digest") / "spend.duckdb"
    catalog = PriceCatalog()
    calls = traffic.spiked(list(traffic.steady())) + [c for cs in traffic.plants().values() for c in cs]
    open_store(str(path)).write(traffic.rows(calls, catalog))
    return str(path)


@pytest.fixture
def own_store(store_path, tmp_path) -> str:
    """A copy of the module's store for a test whose live loop records what it sent in it."""
    copy = tmp_path / "spend.duckdb"
    copy.write_bytes(Path(store_path).read_bytes())
    return str(copy)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def config_file(tmp_path, body: str):
    path = tmp_path / "genai-cost.yaml"
    path.write_text(body)
    return str(path)


def test_weekly_digest_reaches_smtp_and_webhooks_from_cron(tmp_path, store_path, webhook_server, monkeypatch):
    server, received = webhook_server
    port = server.server_address[1]
    with MailServer(tmp_path, starttls=True, credentials=("finops", "s3cret")) as mail:
        monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
        config = config_file(
            tmp_path,
            f"""
alerts:
  webhooks:
    - {{url: "http://127.0.0.1:{port}/json"}}
    - {{url: "http://127.0.0.1:{port}/slack", format: slack}}
  email:
    host: localhost
    port: {mail.port}
    security: starttls
    ca_file: {mail.cert}
    username: finops
    password_env: SMTP_PASSWORD
    sender: genai-cost@example.com
    recipients: [finance@example.com, team-lead@example.com]
""",
        )
        code, out, err = run_cli(
            "--config",
            config,
            "digest",
            "--store",
            store_path,
            "--period",
            "week",
            "--until",
            NEXT.date().isoformat(),
            "--send",
            "all",
        )
        assert code == 0, err
        [message] = mail.wait(1)
    week = totals(open_store(store_path, create=False), (), NEXT - timedelta(days=7), NEXT)[0]
    # The e-mail: both recipients, a text part with the week's total, the HTML report as the alternative.
    assert sorted(mail.inbox.envelopes[0].rcpt_tos) == ["finance@example.com", "team-lead@example.com"]
    assert str(message["Subject"]).strip().startswith("[genai-cost] AI spend, week to 2026-11-19")
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"{week.amount:,.2f}" in plain and f"{week.calls:,}" in plain
    assert "<svg" in html and f"data-value='{week.amount!r}'" in html
    assert "spend_rate" in html and "unpriced" in plain
    # The webhooks: the JSON document and Slack blocks, with the same figures.
    documents = dict(received)
    assert documents["/json"]["event"] == "genai_cost.digest"
    assert documents["/json"]["amount"] == pytest.approx(week.amount, rel=1e-12)
    assert documents["/json"]["calls"] == week.calls
    assert {a["rule"] for a in documents["/json"]["anomalies"]} >= {"spend_rate", "expensive_call"}
    assert documents["/slack"]["blocks"][0]["type"] == "header" and "AI spend" in documents["/slack"]["text"]
    assert out.startswith("AI spend, week to 2026-11-19")


def test_digest_prints_without_sending_and_names_missing_channels(tmp_path, store_path):
    code, out, _ = run_cli(
        "digest", "--store", store_path, "--period", "day", "--until", NEXT.date().isoformat(), "--format", "json"
    )
    assert code == 0
    document = json.loads(out)
    day = totals(open_store(store_path, create=False), (), DAY, NEXT)[0]
    assert document["amount"] == pytest.approx(day.amount, rel=1e-12) and document["unpriced_calls"] == 31
    code, _, err = run_cli(
        "--config", config_file(tmp_path, "enabled: true\n"), "digest", "--store", store_path, "--send", "email"
    )
    assert code == 2 and "alerts:" in err


def test_a_failing_channel_does_not_stop_the_others_and_exit_says_so(tmp_path, store_path, webhook_server):
    server, received = webhook_server
    config = config_file(
        tmp_path,
        f"""
alerts:
  webhooks: [{{url: "http://127.0.0.1:{server.server_address[1]}/ok"}}]
  email: {{host: 127.0.0.1, port: 9, security: none, sender: a@example.com, recipients: [b@example.com], timeout: 2}}
""",
    )
    code, _, err = run_cli(
        "--config", config, "digest", "--store", store_path, "--until", NEXT.date().isoformat(), "--send", "all"
    )
    assert code == 1 and "smtp://127.0.0.1:9" in err
    assert [path for path, _ in received] == ["/ok"]


def test_email_channel_refuses_to_log_in_without_tls_and_never_prints_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-very-secret")
    with MailServer(tmp_path) as mail:  # no STARTTLS offered
        channel = EmailChannel(
            host="127.0.0.1",
            port=mail.port,
            sender="a@example.com",
            recipients=("b@example.com",),
            username="ops",
            password_env="SMTP_PASSWORD",
        )
        with pytest.raises(EmailNotSent) as caught:
            channel.send("s", "t")
        assert "STARTTLS" in str(caught.value) and "hunter2" not in str(caught.value)
        assert mail.inbox.messages == []
    with MailServer(tmp_path, starttls=True, credentials=("ops", "right")) as mail:
        channel = EmailChannel(
            host="localhost",
            port=mail.port,
            sender="a@example.com",
            recipients=("b@example.com",),
            username="ops",
            password_env="SMTP_PASSWORD",
            ca_file=str(mail.cert),
        )
        with pytest.raises(EmailNotSent) as caught:
            channel.send("s", "t")
        assert "refused the login" in str(caught.value) and "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"recipients": ()}, "recipients"),
        ({"sender": "not an address"}, "sender"),
        ({"security": "tls-ish"}, "security"),
        ({"username": "ops"}, "password_env"),
        ({"host": "smtp.example.com\r\nRCPT TO: x"}, "host"),
    ],
)
def test_email_settings_errors_name_the_key(fields, key):
    base = {"host": "smtp.example.com", "sender": "a@example.com", "recipients": ("b@example.com",)}
    with pytest.raises(InvalidEmail) as caught:
        EmailChannel(**{**base, **fields})
    assert caught.value.key == key


def test_subject_cannot_inject_headers(tmp_path):
    with MailServer(tmp_path) as mail:
        channel = EmailChannel(
            host="127.0.0.1", port=mail.port, security="none", sender="a@example.com", recipients=("b@example.com",)
        )
        channel.send("spend\r\nBcc: attacker@example.com", "body")
        [message] = mail.wait(1)
    assert message["Bcc"] is None and mail.inbox.envelopes[0].rcpt_tos == ["b@example.com"]


def test_live_loop_sends_each_finding_once_and_the_digest_on_schedule(own_store, webhook_server):
    server, received = webhook_server
    now = [NEXT.replace(hour=7)]
    live = LiveAnswers(
        open_store(own_store, create=False),
        Channels((Webhook(f"http://127.0.0.1:{server.server_address[1]}/ops"),)),
        schedule=DigestSchedule.from_mapping({"daily": "08:00"}),
        clock=lambda: now[0],
    )
    live.tick()  # 07:00 the next day: yesterday's anomalies go out, the digest is not due yet
    assert [doc["event"] for _, doc in received] == ["genai_cost.anomalies"]
    first = {a["key"] for a in received[0][1]["anomalies"]}
    assert {"spend_rate", "expensive_call", "unpriced_jump"} <= {a["rule"] for a in received[0][1]["anomalies"]}
    live.tick()  # the same findings again: nothing sent
    assert len(received) == 1
    now[0] = NEXT.replace(hour=8, minute=1)
    live.tick()
    live.tick()
    assert [doc["event"] for _, doc in received] == ["genai_cost.anomalies", "genai_cost.digest"]
    assert received[1][1]["since"].startswith(DAY.date().isoformat())
    assert live.findings_sent == len(first)


def test_a_restarted_gateway_sends_no_finding_or_digest_twice(own_store, webhook_server):
    """The live loop asks the store before sending: a gateway restarted after 08:00 (a deploy, a
    crash) must not mail the day's digest again, nor re-send yesterday's findings."""
    server, received = webhook_server
    now = NEXT.replace(hour=8, minute=5)

    def gateway_run() -> LiveAnswers:
        return LiveAnswers(
            open_store(own_store, create=False),
            Channels((Webhook(f"http://127.0.0.1:{server.server_address[1]}/ops"),)),
            schedule=DigestSchedule.from_mapping({"daily": "08:00"}),
            clock=lambda: now,
        )

    first = gateway_run()
    first.tick()
    assert [doc["event"] for _, doc in received] == ["genai_cost.anomalies", "genai_cost.digest"]
    assert first.findings_sent > 0 and first.digests_sent == 1
    restarted = gateway_run()
    restarted.tick()
    assert len(received) == 2 and restarted.findings_sent == 0 and restarted.digests_sent == 0
    now = NEXT + timedelta(days=1, hours=8, minutes=5)  # the next day's digest is new, so it goes out
    restarted.tick()
    assert [doc["event"] for _, doc in received][-1] == "genai_cost.digest"
