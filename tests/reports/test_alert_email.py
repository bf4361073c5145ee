"""Budget alerts gain the e-mail channel: a threshold crossing, from the config file's budgets and
``alerts.email`` through the real guard and dispatcher, reaches a real SMTP server once."""

from __future__ import annotations

import time

from mail_server import MailServer

from genai_cost import attributes as attr
from genai_cost.budget.setup import start_budgets
from genai_cost.config import load_file


def test_threshold_alert_is_mailed_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    with MailServer(tmp_path, starttls=True, credentials=("ops", "s3cret")) as mail:
        config = tmp_path / "genai-cost.yaml"
        config.write_text(
            f"""
budgets:
  policies: [{{name: search, match: {{team: search}}, limit: 10, window: day, thresholds: [50], action: warn}}]
alerts:
  email: {{host: localhost, port: {mail.port}, ca_file: "{mail.cert}", username: ops, password_env: SMTP_PASSWORD,
           sender: budgets@example.com, recipients: [oncall@example.com]}}
"""
        )
        settings = load_file(config)
        guard = start_budgets(settings.budgets, settings.alerts)
        try:
            for _ in range(4):  # 2 + 2 + 2 (crosses 50 %) + 2: one alert
                guard.record({attr.TEAM: "search"}, 2.0)
            [message] = mail.wait(1)
            time.sleep(0.5)
            assert len(mail.inbox.messages) == 1
        finally:
            guard.close()
    subject = " ".join(str(message["Subject"]).split())
    assert subject.startswith("[genai-cost] budget search passed 50% of its limit: 6.0000 of 10.0000 USD")
    body = message.get_body(("plain",)).get_content()
    assert "limit: 10.0" in body and "percent_spent" in body
    assert "s3cret" not in message.as_string()
