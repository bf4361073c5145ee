# The genai-cost gateway, built from this repository (compose.yaml builds it with context "..").
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir ".[gateway]" && useradd --system --uid 10001 genai-cost \
    && mkdir -p /var/spool/genai-cost && chown genai-cost /var/spool/genai-cost
USER genai-cost
EXPOSE 4317 4318
ENTRYPOINT ["genai-cost"]
CMD ["gateway", "--host", "0.0.0.0", "--downstream", "http://otelcol:14318"]
