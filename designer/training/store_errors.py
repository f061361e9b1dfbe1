"""A store that cannot be used, said in one line within seconds: a corrupt or locked SQLite file, a
server that does not answer, a full disk. Left alone, MLflow retries a dead server for minutes and
SQLAlchemy waits on one that takes the connection but never answers, and then each raises a traceback
that names neither the store nor the fix. Both of the project's stores go through here: MLflow's run
store and Optuna's study store (the sweeps' ``--storage``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from designer.training.failures import FULL, chain
from designer.training.stores import StoreError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# A server that stops answering mid-run gives up after seconds, not MLflow's default of minutes.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
PROBE_TIMEOUT_S = 3.0
SERVER_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306}  # by URL scheme, less "+driver"


@dataclass(frozen=True)
class Store:
    """How the user knows a kind of store: its name, whose database it is, its server, how to start one,
    and the option that names another."""

    noun: str
    engine: str
    server: str
    start: str
    option: str


RUNS = Store("run store", "MLflow", "tracking server", "start it (mlflow server)", "--tracking-uri")
STUDIES = Store("study store", "Optuna", "database server", "start it", "--storage")


def probe(url: str, kind: Store = RUNS) -> None:
    """``StoreError`` within ``PROBE_TIMEOUT_S`` if the server ``url`` names takes no connections; files pass."""
    address = urlsplit(url)
    try:
        port = address.port or SERVER_PORTS.get(address.scheme.split("+")[0])
    except ValueError:  # not a number: the store's own client says so
        return
    if port is None or not address.hostname:
        return
    try:
        socket.create_connection((address.hostname, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise StoreError(f"cannot reach the {kind.server} {shown(url)} ({_reason(exc)}); {kind.start} or give "
                         f"another {kind.option}") from None


def open_client(tracking_uri: str) -> MlflowClient:
    """A client for a store that answers; ``StoreError`` otherwise (a server is probed for a few seconds)."""
    from mlflow.tracking import MlflowClient

    probe(tracking_uri)
    with store_access(tracking_uri):
        client = MlflowClient(tracking_uri)
        client.search_experiments(max_results=1)
    return client


@contextmanager
def store_access(url: str, kind: Store = RUNS, errors: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn what a store operation raises for an unusable store into a one-line ``StoreError``. ``errors``:
    what the store's client raises then (default: MLflow's, SQLAlchemy's and the file system's)."""
    if not errors:
        from mlflow.exceptions import MlflowException
        from sqlalchemy.exc import SQLAlchemyError

        errors = (MlflowException, SQLAlchemyError, OSError)
    try:
        yield
    except errors as exc:
        raise StoreError(describe(url, exc, kind)) from exc


def describe(url: str, exc: BaseException, kind: Store = RUNS) -> str:
    """What went wrong with the store and what to do about it."""
    store, other = shown(url).removeprefix("sqlite:///"), f"give another {kind.option}"
    causes = chain(exc)
    text = " ".join(str(e) for e in causes).lower()
    if any(isinstance(e, OSError) and e.errno in FULL for e in causes) or "disk is full" in text:
        return f"no space left on the device that holds {store}; free some space or {other}"
    if "file is not a database" in text or "malformed" in text:
        return (f"{store} is not a readable {kind.noun} (corrupt, or not an {kind.engine} database); move it "
                f"aside to start a new one, or {other}")
    if "database is locked" in text:
        return (f"{store} is locked by another process (a run or sweep writing to it?); wait for it to end, "
                f"or {other}")
    if any(isinstance(e, (ConnectionError, TimeoutError)) for e in causes) or "max retries" in text \
            or "timeout expired" in text:
        return f"the {kind.server} {store} does not answer; check that it runs, or {other}"
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return f"the {kind.noun} {store} failed: {first}"


def shown(url: str) -> str:
    """``url`` fit to print: without its password."""
    address = urlsplit(url)
    if address.password is None:
        return url
    return address._replace(netloc=address.netloc.replace(f":{address.password}@", ":***@", 1)).geturl()


def _reason(exc: OSError) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
