"""A Redis ledger: a fleet of processes shares spend through one Redis server.

Each key is a hash of integer micro-units -- ``s`` spent, ``r<lease>`` reserved under each live
lease -- that EXPIREs a little after its window ends. ``reserve`` and ``settle`` are each one Lua
script (atomic on the server, one round trip via EVALSHA); ``release`` is the settle script with
an actual cost of 0; ``record`` (post-hoc spend of a batch of calls, no reservation) is one more
script, one round trip per batch. ``areserve``/``asettle``/``arelease`` run the same scripts over
redis.asyncio for calls made on an event loop (one client per loop: its connections belong to it).

Short socket timeouts and no client-side retries: a Redis that is down or slow costs a call at
most ``timeout`` once, and the guard then stops asking for a while (see ``guard``). Needs the
``redis`` extra (``pip install redis``).

TLS: ``rediss://`` (redis-py's ``ssl_*`` query parameters for a CA file or client certificate).
Redis Cluster: ``?cluster=yes`` on the URL of any node. A script may only touch keys of one hash
slot, and every call touches its organisation-wide budget's key as well as its per-user one, so
all budget keys carry one hash tag (``{genai_cost:budget}``) and live in one slot: the cluster
gives failover and room for the rest of the application's data, not more ledger throughput
(one primary answers tens of thousands of scripts a second). Status scans every primary. Keys outside
cluster mode keep their untagged names, so spend already in a standalone Redis is not forgotten
on upgrade.

Amounts are checked before a script runs (``check_micros``): a Lua script that fails halfway keeps
the writes it made, so nothing that could fail inside one is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from genai_cost.budget.ledger import LEASE_BUCKETS, Balance, Entry, LedgerUnavailable, Reservation, Slot, check_micros
from genai_cost.redaction import redact_url

KEY_PREFIX = "genai_cost:budget:"
# In cluster mode: one hash tag, so the keys of any call (and of every call) share a slot.
CLUSTER_KEY_PREFIX = "{genai_cost:budget}:"
_TRUE = ("1", "yes", "true", "on")

# KEYS: the call's slots. ARGV: estimate, lease, lease buckets, then per slot (limit, hard 0/1,
# expire-at seconds). Each key is a hash: "s" = spent, "r<lease>" = reserved under that lease;
# fields of dead leases are dropped here. Returns {admitted, spent1, reserved1, spent2, ...} as
# seen before reserving.
_RESERVE = """
local estimate = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local oldest = lease - tonumber(ARGV[3]) + 1
local bump = math.max(estimate, 1)
local out = {0}
local admitted = 1
for i, key in ipairs(KEYS) do
  local fields = redis.call('HGETALL', key)
  local spent, reserved = 0, 0
  for j = 1, #fields, 2 do
    local name = fields[j]
    if name == 's' then
      spent = tonumber(fields[j + 1])
    else
      local bucket = tonumber(string.sub(name, 2))
      if bucket and bucket >= oldest then
        reserved = reserved + tonumber(fields[j + 1])
      else
        redis.call('HDEL', key, name)
      end
    end
  end
  out[2 * i] = spent
  out[2 * i + 1] = reserved
  local base = 4 + (i - 1) * 3
  if ARGV[base + 1] == '1' and spent + reserved + bump > tonumber(ARGV[base]) then
    admitted = 0
  end
end
if admitted == 1 and estimate > 0 then
  for i, key in ipairs(KEYS) do
    redis.call('HINCRBY', key, 'r' .. lease, estimate)
    redis.call('EXPIREAT', key, ARGV[4 + (i - 1) * 3 + 2])
  end
end
out[1] = admitted
return out
"""

# KEYS: the call's slots. ARGV: estimate, actual, lease, then per slot expire-at seconds.
# Returns each slot's spent afterwards.
_SETTLE = """
local estimate = tonumber(ARGV[1])
local actual = tonumber(ARGV[2])
local field = 'r' .. ARGV[3]
local out = {}
for i, key in ipairs(KEYS) do
  local reserved = tonumber(redis.call('HGET', key, field)) or 0
  if reserved > estimate then
    redis.call('HINCRBY', key, field, -estimate)
  elseif reserved > 0 then
    redis.call('HDEL', key, field)
  end
  out[i] = redis.call('HINCRBY', key, 's', actual)
  redis.call('EXPIREAT', key, ARGV[3 + i])
end
return out
"""

# KEYS: the batch's slots. ARGV: per slot expire-at seconds, then per call: its slot count n, n
# slot indexes (1-based), its cost. Returns the calls' slots' spent after each call, flat, in order.
_RECORD = """
local slots = #KEYS
local out = {}
local at = slots + 1
while at <= #ARGV do
  local count = tonumber(ARGV[at])
  local actual = ARGV[at + count + 1]
  for j = 1, count do
    out[#out + 1] = redis.call('HINCRBY', KEYS[tonumber(ARGV[at + j])], 's', actual)
  end
  at = at + count + 2
end
for i = 1, slots do
  redis.call('EXPIREAT', KEYS[i], ARGV[i])
end
return out
"""


_NEEDS_REDIS_PY = "the Redis budget ledger needs redis-py (the redis extra: pip install redis)"


class RedisLedger:
    """Budget spend in Redis (``redis://host:port/db``)."""

    def __init__(self, url: str, *, timeout: float = 0.05, client: Any = None) -> None:
        self._connect_url, self.cluster = _cluster_option(url)
        self.url = redact_url(url)  # what logs and status print: never the password
        self.prefix = CLUSTER_KEY_PREFIX if self.cluster else KEY_PREFIX
        self.timeout = timeout
        try:
            from redis.exceptions import RedisClusterException, RedisError
        except ImportError as error:
            raise ImportError(_NEEDS_REDIS_PY) from error

        # RedisClusterException (no reachable node, slots not covered) is not a RedisError.
        self._errors: tuple[type[BaseException], ...] = (RedisError, RedisClusterException, OSError)
        # (loop, its redis.asyncio client, that client's reserve and settle scripts), made on the
        # first async call on a loop.
        self._on_loop: tuple[asyncio.AbstractEventLoop, Any, Any, Any] | None = None
        self._sync_client: Any = None
        self._sync_scripts: tuple[Any, Any, Any] | None = None  # reserve, settle, record
        if client is not None or not self.cluster:  # a plain client connects on first use anyway
            self._use(client if client is not None else self._client(sync=True))

    def _use(self, client: Any) -> Any:
        self._sync_scripts = tuple(client.register_script(source) for source in (_RESERVE, _SETTLE, _RECORD))
        self._sync_client = client
        return client

    def _scripts(self) -> tuple[Any, Any, Any]:
        scripts = self._sync_scripts
        if scripts is None:
            self.client  # noqa: B018 - made on first use (cluster); raises LedgerUnavailable
            scripts = self._sync_scripts
        return scripts  # type: ignore[return-value]

    @property
    def client(self) -> Any:
        """The sync client. A cluster client connects as it is made, so it is made on first use:
        a cluster down at start-up costs calls the fail mode, not the application its start."""
        client = self._sync_client
        if client is None:
            try:
                client = self._use(self._client(sync=True))
            except self._errors as error:
                raise LedgerUnavailable(f"{type(error).__name__}: {error}") from error
        return client

    def _client(self, *, sync: bool) -> Any:
        """A redis-py client for the URL: plain or cluster, sync or asyncio; short timeouts, no retries."""
        timeout = self.timeout
        try:
            if sync:
                import redis as module
                from redis.retry import Retry
            else:
                from redis import asyncio as module  # type: ignore[no-redef]
                from redis.asyncio.retry import Retry  # type: ignore[assignment]
            from redis.backoff import NoBackoff
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ImportError(_NEEDS_REDIS_PY) from error
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        if self.cluster:
            return module.RedisCluster.from_url(self._connect_url, **options)
        return module.Redis.from_url(self._connect_url, health_check_interval=0, **options)

    def _keys(self, slots: Sequence[Slot]) -> list[str]:
        prefix = self.prefix
        return [prefix + slot.key for slot in slots]

    def reserve(self, slots: Sequence[Slot], estimate: int, lease: int) -> Reservation:
        check_micros(estimate)
        try:
            out = self._scripts()[0](keys=self._keys(slots), args=_reserve_args(slots, estimate, lease))
        except self._errors as error:
            raise LedgerUnavailable(f"{type(error).__name__}: {error}") from error
        return _reservation(slots, out)

    def settle(self, slots: Sequence[Slot], estimate: int, actual: int, lease: int) -> tuple[int, ...]:
        check_micros(estimate, actual)
        try:
            out = self._scripts()[1](keys=self._keys(slots), args=_settle_args(slots, estimate, actual, lease))
        except self._errors as error:
            raise LedgerUnavailable(f"{type(error).__name__}: {error}") from error
        return tuple(int(v) for v in out)

    def _async_scripts(self) -> tuple[Any, Any]:
        """The running loop's redis.asyncio client's reserve and settle scripts."""
        loop = asyncio.get_running_loop()
        on_loop = self._on_loop
        if on_loop is None or on_loop[0] is not loop:
            client = self._client(sync=False)
            reserve, settle = client.register_script(_RESERVE), client.register_script(_SETTLE)
            on_loop = self._on_loop = (loop, client, reserve, settle)
        return on_loop[2], on_loop[3]

    async def areserve(self, slots: Sequence[Slot], estimate: int, lease: int) -> Reservation:
        check_micros(estimate)
        try:
            script = self._async_scripts()[0]
            out = await script(keys=self._keys(slots), args=_reserve_args(slots, estimate, lease))
        except self._errors as error:  # redis-py's TimeoutError is a RedisError
            raise LedgerUnavailable(f"{type(error).__name__}: {error}") from error
        return _reservation(slots, out)

    async def asettle(self, slots: Sequence[Slot], estimate: int, actual: int, lease: int) -> tuple[int, ...]:
        check_micros(estimate, actual)
        try:
            script = self._async_scripts()[1]
            out = await script(keys=self._keys(slots), args=_settle_args(slots, estimate, actual, lease))
        except self._errors as error:  # redis-py's TimeoutError is a RedisError
            raise LedgerUnavailable(f"{type(error).__name__}: {error}") from error
        return tuple(int(v) for v in out)

    async def arelease(self, slots: Sequence[Slot], estimate: int, lease: int) -> None:
        await self.asettle(slots, estimate, 0, lease)

    def record(self, slots: Sequence[Slot], calls: Sequence[Entry]) -> list[tuple[int, ...]]:
        check_micros(*(actual for _, actual in calls))
        args: list[Any] = [int(slot.expires_at) + 1 for slot in slots]
        for indexes, actual in calls:
            args += (len(indexes), *(i + 1 for i in indexes), actual)
        try:
            flat = iter(self._scripts()[2](keys=self._keys(slots), args=args))
        except self._errors as error:
            raise LedgerUnavailable(f"{type(error).__name__}: {error}") from error
        return [tuple(int(next(flat)) for _ in indexes) for indexes, _ in calls]

    def release(self, slots: Sequence[Slot], estimate: int, lease: int) -> None:
        self.settle(slots, estimate, 0, lease)

    def balances(self, prefix: str, lease: int) -> Mapping[str, Balance]:
        pattern = self.prefix + _glob_escape(prefix) + "*"
        oldest = lease - LEASE_BUCKETS + 1
        try:
            # A cluster client's SCAN walks every primary.
            keys = list(dict.fromkeys(self.client.scan_iter(match=pattern, count=1000)))
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key)
            values = pipe.execute()
        except self._errors as error:
            raise LedgerUnavailable(f"{type(error).__name__}: {error}") from error
        found: dict[str, Balance] = {}
        for key, fields in zip(keys, values, strict=True):
            name = key.decode() if isinstance(key, bytes) else key
            spent, reserved = 0, 0
            for field, value in fields.items():
                field = field.decode() if isinstance(field, bytes) else field
                if field == "s":
                    spent = int(value)
                elif field[1:].lstrip("-").isdigit() and int(field[1:]) >= oldest:
                    reserved += int(value)
            found[name[len(self.prefix) :]] = Balance(spent, reserved)
        return found

    def close(self) -> None:
        if self._sync_client is not None:
            self._sync_client.close()

    async def aclose(self) -> None:
        """Close the redis.asyncio client too (from its own loop; ``close`` cannot await it)."""
        on_loop, self._on_loop = self._on_loop, None
        if on_loop is not None and on_loop[0] is asyncio.get_running_loop():
            await on_loop[1].aclose()
        self.close()


def _reserve_args(slots: Sequence[Slot], estimate: int, lease: int) -> list[Any]:
    args: list[Any] = [estimate, lease, LEASE_BUCKETS]
    for slot in slots:
        args += (slot.limit, 1 if slot.hard else 0, int(slot.expires_at) + 1)
    return args


def _settle_args(slots: Sequence[Slot], estimate: int, actual: int, lease: int) -> list[Any]:
    return [estimate, actual, lease, *(int(slot.expires_at) + 1 for slot in slots)]


def _reservation(slots: Sequence[Slot], out: Sequence[Any]) -> Reservation:
    balances = tuple(Balance(int(out[1 + 2 * i]), int(out[2 + 2 * i])) for i in range(len(slots)))
    return Reservation(bool(out[0]), balances)


def _cluster_option(url: str) -> tuple[str, bool]:
    """(the URL without our ``cluster`` query parameter, whether it asked for cluster mode)."""
    parts = urlsplit(url)
    if "cluster=" not in parts.query:
        return url, False
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    cluster = any(name == "cluster" and value.lower() in _TRUE for name, value in pairs)
    rest = urlencode([(name, value) for name, value in pairs if name != "cluster"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), cluster


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
