"""The work socket's database work: claims and answers on PostgreSQL in the server's
event loop, everything else in a pool of threads.

Django's ORM is synchronous, so a socket's database work runs in a worker thread, and
each hop there and back (the executor, the thread's connection checks, the GIL handed
between threads) cost the server more CPU than the claim itself. On PostgreSQL a claim
and an answer are one function call each (tasks.work_pg), so the socket makes that
call itself, on an asynchronous connection from a small pool, with no thread, and
calls made together share one write (_Pipelines).

The thread path keeps what needs the ORM: SQLite, a trainee's answer (its feedback is
scored in the answer's transaction), releasing a task, the welcome, and the effects
answers set off once committed (tasks.work.run_answer_effects: jobs, the fraud
counter, live progress), gathered for a moment and run without holding any reply."""

import asyncio
import collections
import functools
import gc
import json
import logging
import random
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import psycopg
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import connections
from psycopg import generators, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg_pool import AsyncConnectionPool

from tasks import work, work_pg

logger = logging.getLogger(__name__)

# --- The thread path --------------------------------------------------------------

# Made on first use, in the server process (settings.WORK_DB_THREADS explains the size).
_database_threads: ThreadPoolExecutor | None = None


def _database_executor() -> ThreadPoolExecutor:
    global _database_threads
    if _database_threads is None:
        _database_threads = ThreadPoolExecutor(
            max_workers=settings.WORK_DB_THREADS, thread_name_prefix="work-db"
        )
    return _database_threads


def database_work(func):
    """Run in this module's thread pool, not the one shared thread Django's sync code
    gets by default: each call is its own transaction on its own thread's connection,
    so workers' claims and answers proceed in parallel."""

    async def call(*args, **kwargs):
        run = DatabaseSyncToAsync(func, thread_sensitive=False, executor=_database_executor())
        return await run(*args, **kwargs)

    return call


# --- The event-loop path (PostgreSQL) ---------------------------------------------

# One pool per event loop: the server has one; each test's loop gets its own.
_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncConnectionPool]" = (
    weakref.WeakKeyDictionary()
)


def in_event_loop() -> bool:
    """Whether claims and answers take the event-loop path: PostgreSQL only."""
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _connection_kwargs() -> dict:
    """Django's database settings as psycopg takes them (read when the pool opens, so
    a test run's test database)."""
    database = connections["default"].settings_dict
    kwargs = {
        "dbname": database["NAME"],
        "user": database["USER"],
        "password": database["PASSWORD"],
        "host": database["HOST"] or "127.0.0.1",
        "port": database["PORT"] or 5432,
        # Each call is its own transaction: the function's statement commits it.
        "autocommit": True,
    }
    for name in ("sslmode", "sslrootcert", "connect_timeout", "options"):
        if name in database.get("OPTIONS", {}):
            kwargs[name] = database["OPTIONS"][name]
    return {key: value for key, value in kwargs.items() if value not in (None, "")}


async def _pool() -> AsyncConnectionPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        backends: set[int] = set()

        async def configure(conn) -> None:
            backends.add(conn.info.backend_pid)

        pool = AsyncConnectionPool(
            kwargs=_connection_kwargs(),
            min_size=1,
            max_size=settings.WORK_DB_CONNECTIONS,
            configure=configure,
            # No check when a connection is handed out: a round trip on every call. A
            # connection broken by a database restart fails one call and is replaced.
            open=False,
            name="work",
        )
        pool.backends = backends
        _pools[loop] = pool
        await pool.open()
    return pool


@functools.cache
def _numbered(sql: str) -> bytes:
    """psycopg's %s placeholders as PostgreSQL's $1, $2, ... (the statements here hold
    no literal %)."""
    head, *rest = sql.split("%s")
    return (head + "".join(f"${n}{part}" for n, part in enumerate(rest, 1))).encode()


def _dumped(dumper: Transformer, sql: str, params: list):
    """A call as the wire takes it, or the error its parameters raised."""
    try:
        values = dumper.dump_sequence(params, [PyFormat.AUTO] * len(params))
    except psycopg.Error as exc:
        return exc
    return _numbered(sql), values, dumper.types, dumper.formats


def _pipeline(conn: psycopg.AsyncConnection, calls: list[tuple[str, list]]):
    """A psycopg generator: the calls sent together in one write, each its own
    statement and its own transaction (a Sync after each, so one call's error or
    rollback touches no other), then each call's result read back in order: the
    function's value decoded, or the error it raised. A call whose parameters cannot
    be sent is not sent, and fails alone."""
    pgconn = conn.pgconn
    dumper = Transformer(conn)
    outcomes = [_dumped(dumper, sql, params) for sql, params in calls]
    pgconn.enter_pipeline_mode()
    for outcome in outcomes:
        if not isinstance(outcome, psycopg.Error):
            statement, values, types, formats = outcome
            pgconn.send_query_params(statement, values, param_types=types, param_formats=formats)
            pgconn.pipeline_sync()
    yield from generators.send(pgconn)
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, psycopg.Error):
            continue
        (result,) = yield from generators.fetch_many(pgconn)
        yield from generators.fetch_many(pgconn)  # the call's Sync
        if result.status == pq.ExecStatus.TUPLES_OK:
            outcomes[i] = json.loads(result.get_value(0, 0))
        else:
            outcomes[i] = _error(result)
    pgconn.exit_pipeline_mode()
    return outcomes


def _error(result) -> psycopg.Error:
    sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    message = (result.error_message or b"").decode(errors="replace").strip()
    try:
        return psycopg.errors.lookup(sqlstate)(message)
    except KeyError:
        return psycopg.DatabaseError(message)


async def _send(calls: list[tuple[str, list]]) -> list:
    """The calls sent together on one pooled connection. A connection found broken
    (the database restarted, or ended it) is dropped by the pool, with any idle ones
    as broken, and the calls sent once more on another: every call is safe to repeat
    (a claim resumes the claim it may have made, an answer replays on its
    submission_id)."""
    pool = await _pool()
    for attempt in (1, 2):
        try:
            async with pool.connection() as conn:
                try:
                    return await conn.wait(_pipeline(conn, calls))
                except BaseException:
                    # Left mid-pipeline, the connection is of no further use.
                    await conn.close()
                    raise
        except psycopg.OperationalError:
            if attempt == 2:
                raise
            logger.warning("a work connection was broken; sending its calls again on another")
            # A restart breaks them all: drop the idle ones that are broken too.
            await pool.check()


# Pipelines and answers' effects under way: held so that the loop does not drop them
# half done.
_running: set[asyncio.Future] = set()


def _hold(future: asyncio.Future) -> None:
    _running.add(future)
    future.add_done_callback(_running.discard)


class _Pipelines:
    """An event loop's calls, sent in batches on at most WORK_DB_PIPELINES
    connections at once. A call made while every pipeline is busy waits for the next
    free one, which takes all calls waiting by then together. Each write to
    PostgreSQL wakes a server process, and on a small machine that process takes the
    core from the event loop until it is done (a fifth of the loop's time went so at
    one call per write), so under load the calls share writes; when idle, a call
    goes at once, alone."""

    def __init__(self) -> None:
        self.waiting: collections.deque = collections.deque()
        self.busy = 0

    def call(self, sql: str, params: list) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((sql, params, future))
        if self.busy < settings.WORK_DB_PIPELINES:
            self.busy += 1
            _hold(asyncio.ensure_future(self._run()))
        return future

    async def _run(self) -> None:
        try:
            while self.waiting:
                batch = [
                    self.waiting.popleft()
                    for _ in range(min(len(self.waiting), PIPELINE_MAX_CALLS))
                ]
                try:
                    outcomes = await _send([(sql, params) for sql, params, _ in batch])
                except Exception as exc:
                    outcomes = [exc] * len(batch)
                for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller went away (the socket closed)
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self.busy -= 1


# At most this many calls share a write (and a server process, one after another).
PIPELINE_MAX_CALLS = 16

_pipelines: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pipelines]" = (
    weakref.WeakKeyDictionary()
)


async def _call(sql: str, params: list):
    """One function call, committed on its own, sent with whatever other calls are
    waiting; its value, or the error it raised."""
    loop = asyncio.get_running_loop()
    pipelines = _pipelines.get(loop)
    if pipelines is None:
        pipelines = _pipelines[loop] = _Pipelines()
    return await pipelines.call(sql, params)


# How long a claim that found every free task held by other claimers keeps trying
# before it answers "no tasks": when many workers drain the last tasks of a set at
# once, a slot can stay held for several tries in a row.
CONTENDED_CLAIM_SECONDS = 1.0


async def claim(*, worker_id: int, task_set_id: int | None) -> work.Claim:
    """As tasks.work.claim_next_task, on the event loop: the held task, a new one, or
    Claim(None, reason=...); WorkError if the worker may not work."""
    deadline = time.monotonic() + CONTENDED_CLAIM_SECONDS
    attempt = 0
    while True:
        result = work_pg.claim_result(
            await _call(
                work_pg.CLAIM_SQL, [worker_id, task_set_id, settings.WORK_MAX_ACTIVE_CLAIMS]
            )
        )
        claim, contended = work.claim_from_result(result)
        if claim.assignment is not None or not contended or time.monotonic() > deadline:
            return claim
        # Every free task was being claimed by someone else at that very moment (see
        # claim_next_task): a short wait, holding no connection, jittered so that the
        # workers passed over together do not all come back together.
        attempt += 1
        await asyncio.sleep(random.uniform(0.002, 0.02) * min(attempt, 5))


async def submit(
    *, worker_id: int, assignment_id: int, answer, submission_id, seconds_spent
) -> work.Submission | None:
    """As tasks.work.submit_answer, on the event loop, committed before it returns;
    None for a training set's answer, which takes the thread path (its feedback is
    scored in its transaction). A new answer's effects are started, not awaited."""
    params = work_pg.submit_params(
        assignment_id=assignment_id,
        worker_id=worker_id,
        answer=answer,
        transcription=work.clean_transcription(answer),
        submission_id=submission_id,
        seconds_spent=seconds_spent,
        start_of_day=work.start_of_today(),
        allow_training=False,
    )
    try:
        result = work_pg.submit_result(await _call(work_pg.SUBMIT_SQL, params))
    except psycopg.errors.UniqueViolation:
        raise work.duplicate_submission_error() from None
    if result.outcome == "training":
        return None
    submission = work.submission_from_result(result, effects=False)
    if not submission.replayed:
        _gather_effects(
            assignment=submission.assignment,
            task_set=submission.assignment.task_set,
            closes_task=result.closes_task,
            is_gold=result.is_gold,
        )
    return submission


# --- Answers' effects, gathered ----------------------------------------------------

# A process gathers its answers' effects for this long and runs them together in one
# thread call (tasks.work.run_answer_effects): a job per kind and one cache round trip,
# not a thread hop and a broker message per answer (whose threads also took the GIL
# from the event loop, which then waited for it). At worst a crash loses this long of
# effects, which the safety net does a minute later.
EFFECTS_GATHER_SECONDS = 0.1

_gathering: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, work.AnswerEffects]" = (
    weakref.WeakKeyDictionary()
)


def _gather_effects(**answer) -> None:
    loop = asyncio.get_running_loop()
    effects = _gathering.get(loop)
    if effects is None:
        effects = _gathering[loop] = work.AnswerEffects()
        loop.call_later(EFFECTS_GATHER_SECONDS, _run_gathered, loop)
    effects.add(**answer)


def _run_gathered(loop: asyncio.AbstractEventLoop) -> None:
    effects = _gathering.pop(loop, None)
    if effects:
        future = asyncio.ensure_future(database_work(work.run_answer_effects)(effects))
        _hold(future)
        future.add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        # The answers stand: the safety net settles and scores what a lost job would.
        logger.error("answers' effects failed", exc_info=future.exception())


def forget_ended_loops() -> list[int]:
    """Drop the pools of event loops that have ended, and return their connections'
    server process ids: a test's loop ends with its test, and the test suite ends
    those connections server-side before it drops its database."""
    backends = []
    for loop, pool in list(_pools.items()):
        if loop.is_closed():
            backends.extend(pool.backends)
            del _pools[loop]
    return backends


def close_database_threads() -> None:
    """End the thread pool's threads, and with them their connections (the test suite
    does so before it drops its database)."""
    global _database_threads
    if _database_threads is not None:
        _database_threads.shutdown(wait=True)
        _database_threads = None
        gc.collect()  # a finished thread's connection closes when collected
