"""Nearest incidents by text embedding: pgvector where the server has it, numpy otherwise.

Migration 0016 adds ``incidents.embedding_vec vector(384)`` with an HNSW index (cosine) when
the server offers the ``vector`` extension; a trigger fills it from the JSONB embedding the
incident flow writes, and keeps a binary ``real[]`` copy (``embedding_f32``) on every
server. Without pgvector, every ticket's vector is read once per process from that copy into
a matrix (new tickets are added at each search, by id) and compared in numpy. Both answer the
same question — the tickets whose incident is most like a vector, among those that pass
the search's filters — and both return cosines.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol
from typing import cast as cast_type

import numpy as np
import psycopg
from numpy.typing import NDArray
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    String,
    any_,
    bindparam,
    cast,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

from dispatch.incidents.models import Incident
from dispatch.tickets.models import Ticket

PGVECTOR_DIM = 384
"""The column's dimension (all-MiniLM-L6-v2); vectors of another size use numpy."""
EF_SEARCH = 100
MAX_SCAN_TUPLES = 4_000
"""pgvector: the most index entries one filtered search walks (pgvector's default: 20,000), so
that a filter which hardly overlaps the nearest neighbours costs a bounded walk."""
NUMPY_CANDIDATES = 5000
"""numpy: at most this many of the most similar tickets are checked against the filters."""
_HEADER = 20
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f4")])


class _VectorType(UserDefinedType[Any]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"


@dataclass(frozen=True)
class Near:
    ticket_id: int
    cosine: float


class VectorIndex(Protocol):
    name: str

    def nearest(self, *, db_session: Session, vector: NDArray[np.float32],
                where: list[ColumnElement[bool]], limit: int) -> list[Near]:
        """The ``limit`` tickets passing ``where`` whose incident is most like ``vector``."""


def ticket_in(ids: list[int]) -> ColumnElement[bool]:
    """``tickets.id = ANY(:ids)``: one array parameter, however many ids."""
    return Ticket.id == any_(bindparam("ticket_ids", ids, type_=ARRAY(BigInteger), unique=True))


def vector_literal(vector: NDArray[np.float32]) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector.tolist()) + "]"


class PgVectorIndex:
    """``ORDER BY embedding_vec <=> q LIMIT k`` over the HNSW index, with pgvector's iterative
    scan so that filters do not starve the answer. A very selective filter makes the walk long
    ("graffiti" tickets like "bridge" among 30,000 synthetic incidents: 8,117 index entries,
    413 ms); the walk stops at MAX_SCAN_TUPLES entries, and fewer tickets come back. Searching
    the filtered rows exactly instead was slower whenever they were many (a staff member's
    agency, 14,000 of 100,000: 589 ms against 103 ms by the index)."""

    name = "pgvector"

    def nearest(self, *, db_session: Session, vector: NDArray[np.float32],
                where: list[ColumnElement[bool]], limit: int) -> list[Near]:
        if vector.shape[0] != PGVECTOR_DIM:
            return NumpyIndex.shared(db_session.get_bind()).nearest(
                db_session=db_session, vector=vector, where=where, limit=limit)
        for setting, value in (("ef_search", EF_SEARCH), ("max_scan_tuples", MAX_SCAN_TUPLES)):
            db_session.execute(text(f"SET LOCAL hnsw.{setting} = {int(value)}"))
        db_session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        column: ColumnElement[Any] = literal_column("incidents.embedding_vec")
        distance = column.op("<=>")(
            cast(bindparam("ask_vector", vector_literal(vector), type_=String), _VectorType()))
        stmt = (select(Ticket.id, distance).join(Incident, Incident.id == Ticket.incident_id)
                .where(column.is_not(None), *where).order_by(distance).limit(limit))
        hits = [Near(ticket_id=int(r[0]), cosine=round(1.0 - float(r[1]), 4))
                for r in db_session.execute(stmt)]
        return sorted(hits, key=lambda h: -h.cosine)  # a relaxed-order scan may interleave


@dataclass
class _Matrix:
    ids: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    vectors: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    last_id: int = 0
    last_incident: Any = None
    """The incident of the last ticket read: another one there means the table was emptied
    and refilled (tests do), and the matrix is read afresh."""


class NumpyIndex:
    """Every ticket's incident vector in one matrix, per process and database."""

    name = "numpy"
    _instances: dict[str, NumpyIndex] = {}
    _instances_lock = threading.Lock()

    def __init__(self) -> None:
        self._matrix = _Matrix()
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, bind: Any) -> NumpyIndex:
        key = str(getattr(bind, "url", bind))
        with cls._instances_lock:
            return cls._instances.setdefault(key, cls())

    def size(self) -> int:
        return int(self._matrix.ids.shape[0])

    def refresh(self, db_session: Session, batch: int = 20_000) -> _Matrix:
        """Read the vectors of tickets newer than the last one read (all, the first time).

        One query when nothing is new: it reads from the last ticket read, which must still be
        there with the same incident, or the table was emptied and refilled (tests do) and the
        matrix is read afresh."""
        with self._lock:
            matrix = self._matrix
            while True:
                rows = _read(db_session, matrix.last_id, batch + 1)
                if matrix.last_id:
                    if not rows or (rows[0][0], rows[0][1]) != (matrix.last_id, matrix.last_incident):
                        matrix = _Matrix()
                        continue
                    rows = rows[1:]
                if not rows:
                    break
                matrix = _append(matrix, rows)
            self._matrix = matrix
            return matrix

    def nearest(self, *, db_session: Session, vector: NDArray[np.float32],
                where: list[ColumnElement[bool]], limit: int) -> list[Near]:
        matrix = self.refresh(db_session)
        if matrix.vectors.shape[0] == 0 or matrix.vectors.shape[1] != vector.shape[0]:
            return []
        cosines = matrix.vectors @ (vector / (np.linalg.norm(vector) or 1.0))
        take = min(NUMPY_CANDIDATES, cosines.shape[0])
        best = np.argpartition(-cosines, take - 1)[:take]
        best = best[np.argsort(-cosines[best], kind="stable")]
        hits: list[Near] = []
        start, size = 0, max(4 * limit, 64)
        while start < take and len(hits) < limit:  # the best first; more only when filtered out
            rows = best[start:start + size]
            ids = [int(i) for i in matrix.ids[rows]]
            passing = set(db_session.scalars(select(Ticket.id).join(
                Incident, Incident.id == Ticket.incident_id).where(ticket_in(ids), *where)))
            hits.extend(Near(ticket_id=i, cosine=round(float(c), 4))
                        for i, c in zip(ids, cosines[rows], strict=True) if i in passing)
            start, size = start + size, size * 4
        return hits[:limit]


_READ = ("SELECT t.id, t.incident_id, i.embedding_f32 FROM tickets AS t "
         "JOIN incidents AS i ON i.id = t.incident_id "
         "WHERE t.id >= %s AND i.embedding_f32 IS NOT NULL ORDER BY t.id LIMIT %s")


def _read(db_session: Session, from_id: int, limit: int) -> list[tuple[int, Any, bytes]]:
    """Tickets from ``from_id`` on with their binary vectors, in the session's transaction;
    fetched in PostgreSQL's binary format (bytea as bytes, not hex text to decode)."""
    dbapi = cast_type(psycopg.Connection[Any], db_session.connection().connection.dbapi_connection)
    with dbapi.cursor(binary=True) as cursor:
        cursor.execute(_READ, (from_id, limit))
        return [(int(r[0]), r[1], bytes(r[2])) for r in cursor.fetchall()]


def unpack(blobs: list[bytes]) -> NDArray[np.float32]:
    """``real[]`` values of one length in PostgreSQL's binary form (``array_send``): a 20-byte
    header (one dimension), then each element as its 4-byte length and big-endian float."""
    dim = (len(blobs[0]) - _HEADER) // _ELEMENT.itemsize
    row = np.dtype([("header", f"V{_HEADER}"), ("elements", _ELEMENT, (dim,))])
    return np.frombuffer(b"".join(blobs), dtype=row)["elements"]["value"].astype(np.float32)


def _append(matrix: _Matrix, rows: list[tuple[int, Any, bytes]]) -> _Matrix:
    """The rows whose vectors have the matrix's size (the first row's, for an empty one)."""
    last_id, last_incident = rows[-1][0], rows[-1][1]
    size = len(rows[0][2]) if not matrix.ids.shape[0] else \
        _HEADER + matrix.vectors.shape[1] * _ELEMENT.itemsize
    kept = [(ticket_id, blob) for ticket_id, _incident, blob in rows if len(blob) == size]
    if not kept:
        return _Matrix(matrix.ids, matrix.vectors, last_id, last_incident)
    vectors = unpack([blob for _, blob in kept])
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    old = matrix.vectors if matrix.ids.shape[0] else np.zeros((0, vectors.shape[1]), np.float32)
    return _Matrix(ids=np.concatenate([matrix.ids, np.asarray([i for i, _ in kept], np.int64)]),
                   vectors=np.concatenate([old, vectors]), last_id=last_id,
                   last_incident=last_incident)


@dataclass(frozen=True)
class Backend:
    """Which index answers, and why, for ``/health``."""

    name: str
    detail: str


_BACKENDS: dict[str, Backend] = {}
_BACKENDS_LOCK = threading.Lock()


def detect(engine: Engine) -> Backend:
    """pgvector when the incidents carry the indexed vector column, numpy otherwise (cached)."""
    key = str(engine.url)
    with _BACKENDS_LOCK:
        if key in _BACKENDS:
            return _BACKENDS[key]
    with engine.connect() as conn:
        column = conn.execute(text(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('incidents') "
            "AND attname = 'embedding_vec' AND NOT attisdropped")).first()
        version = conn.execute(text(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
    if column is not None and version:
        backend = Backend("pgvector", f"pgvector {version}, HNSW index on incidents.embedding_vec")
    else:
        backend = Backend("numpy", "the server has no pgvector: exact cosine in numpy over the "
                                   "incidents' embeddings, read once per process")
    with _BACKENDS_LOCK:
        _BACKENDS[key] = backend
    return backend


def index_for(engine: Engine) -> VectorIndex:
    return PgVectorIndex() if detect(engine).name == "pgvector" else NumpyIndex.shared(engine)
