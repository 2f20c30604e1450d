"""The item table and its nearest-neighbour index, as files an artefact ships.

A large catalogue's next-item scores are ``query . item + bias`` over millions of items.
Serving does not score them all: usearch's HNSW graph finds the items of the highest score,
and only those (with the visitor's own items) are scored exactly (``service.model.retrieval``).
The graph is faiss's ``IndexHNSWFlat``; usearch, measured beside it, crashed the process when
imported before ONNX Runtime (2.26.6).

Maximum inner product is turned into a nearest-neighbour search with one extra dimension
(Bachrach et al. 2014): an item ``x`` becomes ``[x, sqrt(R^2 - |x|^2)]`` and a query ``q``
becomes ``[q, 0]``, so ``|q' - x'|^2 = |q|^2 + R^2 - 2 q.x`` and the nearest items are those
of the largest inner product. The bias rides in ``x`` against a query's constant 1.

Every file is memory-mapped (the index's vectors too; its graph's links, an eighth of a
million-item index's bytes at most, are read): the workers of one host share one copy of the
rest through the page cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from service.model.encoding import FIRST_ID

TABLE_FILE = "item_table.npy"
COVISIT_ITEMS_FILE = "covisit_items.npy"
COVISIT_WEIGHTS_FILE = "covisit_weights.npy"
INDEX_FILE = "items.faiss"
# The HNSW graph's degree and build-time breadth: on a random-weight model's 30,000 items,
# the top 20 in 128 found went 0.54 -> 0.80 at search breadth 256 from (16, 80) to (32, 200);
# (48, 400) gave 0.89 for a build three times as long.
CONNECTIVITY = 32
EXPANSION_ADD = 200

Floats = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]


def augment_items(table: Floats) -> Floats:
    """``[V, d + 1]`` rows ``(embedding, bias)`` as ``[V, d + 2]`` points whose nearest
    neighbours, to an augmented query, are the items of the largest score."""
    norms = np.einsum("ij,ij->i", table, table, dtype=np.float64)
    radius = float(norms.max())
    extra = np.sqrt(np.maximum(radius - norms, 0.0)).astype(np.float32)
    return np.hstack([table, extra[:, None]])


def augment_queries(queries: Floats) -> Floats:
    """``[B, d]`` queries as ``[B, d + 2]``: a 1 for the bias, a 0 for the extra dimension."""
    rows = len(queries)
    return np.hstack([queries, np.ones((rows, 1), np.float32), np.zeros((rows, 1), np.float32)])


def build_index(table: Floats, path: Path) -> None:
    """An HNSW index of every real item (ids from ``FIRST_ID``) of ``table``, saved to ``path``."""
    import faiss

    points = augment_items(np.ascontiguousarray(table[FIRST_ID:], dtype=np.float32))
    index = faiss.IndexHNSWFlat(points.shape[1], CONNECTIVITY)
    index.hnsw.efConstruction = EXPANSION_ADD
    index.add(points)
    faiss.write_index(index, str(path))


class ItemIndex:
    """The artefact's item index, its vectors memory-mapped; ``breadth`` is HNSW's
    ``efSearch``. Searches run on the calling thread (faiss would start a pool per call)."""

    def __init__(self, path: Path, breadth: int) -> None:
        # Imported here: a service without an index does not load faiss (0.2 s a worker).
        import faiss

        faiss.omp_set_num_threads(1)
        self._index: Any = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        self.breadth = breadth

    @property
    def breadth(self) -> int:
        return int(self._index.hnsw.efSearch)

    @breadth.setter
    def breadth(self, value: int) -> None:
        self._index.hnsw.efSearch = value

    def search(self, queries: Floats, count: int) -> Ids:
        """``[B, count]`` item ids of the highest scores; a row short of ``count`` found items
        is padded with ``0``, the padding id, which scores nothing."""
        _, labels = self._index.search(augment_queries(queries), count)
        ids: Ids = np.where(labels >= 0, labels + FIRST_ID, 0).astype(np.int64)
        return ids


def load_table(artefact: Path, name: str) -> npt.NDArray[np.generic]:
    """A table memory-mapped read-only: its pages are the page cache's, shared by workers."""
    table: npt.NDArray[np.generic] = np.load(artefact / name, mmap_mode="r")
    return table
