"""A run store that cannot be used, said in one line within seconds: a corrupt or locked SQLite file,
a tracking server that does not answer, a full disk. Left alone, MLflow retries a dead server for
minutes and then raises a traceback that names neither the store nor the fix."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from mlflow.tracking import MlflowClient

from designer.training.stores import StoreError

# A server that stops answering mid-run gives up after seconds, not MLflow's default of minutes.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
PROBE_TIMEOUT_S = 3.0
FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def open_client(tracking_uri: str) -> MlflowClient:
    """A client for a store that answers; ``StoreError`` otherwise (a server is probed for a few seconds)."""
    address = urlsplit(tracking_uri)
    if address.scheme in ("http", "https"):
        port = address.port or (443 if address.scheme == "https" else 80)
        try:
            socket.create_connection((address.hostname or "localhost", port), timeout=PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise StoreError(f"cannot reach the tracking server {tracking_uri} ({_reason(exc)}); start it "
                             "(mlflow server) or give another --tracking-uri") from None
    with store_access(tracking_uri):
        client = MlflowClient(tracking_uri)
        client.search_experiments(max_results=1)
    return client


@contextmanager
def store_access(tracking_uri: str) -> Iterator[None]:
    """Turn what a store operation raises for an unusable store into a one-line ``StoreError``."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (MlflowException, SQLAlchemyError, OSError) as exc:
        raise StoreError(describe(tracking_uri, exc)) from exc


def describe(tracking_uri: str, exc: BaseException) -> str:
    """What went wrong with the store and what to do about it."""
    store = tracking_uri.removeprefix("sqlite:///")
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, OSError) and e.errno in FULL for e in chain) or "disk is full" in text:
        return f"no space left on the device that holds {store}; free some space or give another --tracking-uri"
    if "file is not a database" in text or "malformed" in text:
        return (f"{store} is not a readable run store (corrupt, or not an MLflow database); move it aside to "
                "start a new one, or give another --tracking-uri")
    if "database is locked" in text:
        return (f"{store} is locked by another process (a run or sweep writing to it?); wait for it to end, "
                "or give another --tracking-uri")
    if any(isinstance(e, (ConnectionError, TimeoutError)) for e in chain) or "max retries" in text:
        return f"the tracking server {tracking_uri} does not answer; check that it runs, or give another --tracking-uri"
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return f"the run store {tracking_uri} failed: {first}"


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _reason(exc: OSError) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
