"""Where genai-cost's messages go: budget alerts, anomaly findings and spend digests share these
channels (webhooks and Slack in ``webhook``, e-mail in ``email``), so a team configures a
receiver once and gets every kind of message there."""
