"""The item table and its approximate index, as files an artefact ships.

A large catalogue's next-item scores are ``query . item + bias`` over millions of items.
Serving does not score them all: an inverted-file index finds some hundreds of items of the
highest score, and only those (with the visitor's own items) are scored exactly
(``service.model.retrieval``).

The index is faiss's ``IndexIVFPQFastScan``: the items are split into about ``sqrt(N)``
lists by k-means, and a search reads the lists of the ``breadth`` centroids nearest the
query, estimating each item's score from a 4-bit code a dimension (16 levels; SIMD table
look-ups). Chosen by measurement on a million random items, the hardest case for any index
(no structure to exploit): at 33 dimensions, reading every list found 0.996 of the exact top
20 among its 512 best, at 1.2 ms a query on one core; at the benchmark model's 64, 0.98
among the 128 best that export ships. faiss's HNSW graph found 0.83 at 5 ms and took 44
CPU-minutes to build, this one 10 seconds. A trained table has structure, and export tunes
``breadth`` down to what it needs (``training.model.retrieval``).

Inner product is the metric throughout, the bias riding in an item's row against a query's
constant 1. The centroids are of unit length (spherical k-means), so an item joins the list
of the centroid nearest its direction whatever its length; with free centroids a long one
takes every item (on the test model's 177 trained items, 8 of 13 lists then found 0.91 of
simulated sessions' top 20). Every file is memory-mapped: the workers of one host share one
copy through the page cache.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from service.model.encoding import FIRST_ID

TABLE_FILE = "item_table.npy"
COVISIT_ITEMS_FILE = "covisit_items.npy"
COVISIT_WEIGHTS_FILE = "covisit_weights.npy"
INDEX_FILE = "items.faiss"
# k-means wants some 40 points a centroid; more only slows the build.
TRAINING_POINTS_PER_LIST = 64
TRAINING_SEED = 20261202
CODE_BITS = 4

Floats = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]


def lists_for(items: int) -> int:
    """Inverted lists for ``items``: about the square root, so that a list and the
    centroids each cost about as much to read."""
    return max(1, min(65_536, round(math.sqrt(items))))


def breadths(lists: int) -> list[int]:
    """Lists a search may read, narrowest first, up to all of them: the breadths export
    tries and the benchmark measures."""
    # Steps of about 1.4x: between 256 and 512 lists of a million random items, recall goes
    # 0.946 -> 0.983 and rows/s 922 -> 697, too far apart to choose between.
    ladder = [round(8 * 2 ** (step / 2)) for step in range(32)]
    return [*(b for b in ladder if b < lists), lists]


def padded_width(width: int) -> int:
    """Fast-scan codes come in pairs of 4-bit sub-quantizers: an even width, one a column."""
    return width + width % 2


def build_index(table: Floats, path: Path) -> None:
    """An index of every real item (ids from ``FIRST_ID``) of ``table``, rows
    ``(embedding, bias)``, saved to ``path``."""
    import faiss

    items = np.ascontiguousarray(table[FIRST_ID:], dtype=np.float32)
    width = padded_width(items.shape[1])
    points = np.zeros((len(items), width), np.float32)
    points[:, : items.shape[1]] = items
    lists = lists_for(len(points))
    index = faiss.IndexIVFPQFastScan(
        faiss.IndexFlatIP(width), width, lists, width, CODE_BITS, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.spherical = True
    index.cp.seed = TRAINING_SEED
    rng = np.random.default_rng(TRAINING_SEED)
    sample = min(len(points), lists * TRAINING_POINTS_PER_LIST)
    index.train(points[np.sort(rng.choice(len(points), sample, replace=False))])
    index.add(points)
    faiss.write_index(index, str(path))


def augment_queries(queries: Floats, width: int) -> Floats:
    """Queries ``[B, d]`` as ``[B, width]``: a 1 against the bias, then zeros."""
    out = np.zeros((len(queries), width), np.float32)
    out[:, : queries.shape[1]] = queries
    out[:, queries.shape[1]] = 1.0
    return out


class ItemIndex:
    """The artefact's item index, memory-mapped; ``breadth`` is the lists a search reads
    (faiss's ``nprobe``), ``lists`` all of them. Searches run on the calling thread (faiss
    would start a pool per call)."""

    def __init__(self, path: Path, breadth: int) -> None:
        # Imported here: a service without an index does not load faiss (0.2 s a worker).
        import faiss

        faiss.omp_set_num_threads(1)
        self._index: Any = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        self.breadth = breadth

    @property
    def lists(self) -> int:
        return int(self._index.nlist)

    @property
    def breadth(self) -> int:
        return int(self._index.nprobe)

    @breadth.setter
    def breadth(self, value: int) -> None:
        self._index.nprobe = max(1, min(value, self.lists))

    def search(self, queries: Floats, count: int) -> Ids:
        """``[B, count]`` ids of the items of the highest estimated scores; a row short of
        ``count`` found items is padded with ``0``, the padding id, which scores nothing."""
        _, labels = self._index.search(augment_queries(queries, self._index.d), count)
        ids: Ids = np.where(labels >= 0, labels + FIRST_ID, 0).astype(np.int64)
        return ids


def load_table(artefact: Path, name: str) -> npt.NDArray[np.generic]:
    """A table memory-mapped read-only: its pages are the page cache's, shared by workers."""
    table: npt.NDArray[np.generic] = np.load(artefact / name, mmap_mode="r")
    return table
