"""Opening an index generation for searching, with its files memory-mapped.

Segments are separate files (see ``indexer.segments.COMPOUND``). Whoosh's ``FileStorage``
reads them through buffered file objects, a seek and a read call per posting block or
column value; mapping each file instead makes those reads memory copies, and the mapped
pages are the page cache's, shared by every searcher and every server process rather
than copied into each. Whoosh never rewrites a segment file in place (it writes new files
and deletes old ones), so a mapping stays valid while a writer works.
"""

from __future__ import annotations

import mmap
from io import BytesIO
from pathlib import Path

from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile
from whoosh.index import _DEF_INDEX_NAME, TOC, FileIndex


class MappedFileStorage(FileStorage):
    """A read-only ``FileStorage`` whose files are opened as memory maps."""

    def __init__(self, path: str | Path):
        super().__init__(str(path), readonly=True)

    def open_file(self, name, **kwargs):
        """Open ``name`` as a ``StructFile`` over a read-only memory map."""
        with open(self._fpath(name), "rb") as handle:
            try:
                data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file cannot be mapped
                data = BytesIO(b"")
        return StructFile(data, name=name, **kwargs)


class SnapshotIndex(FileIndex):
    """A ``FileIndex`` held at the table of contents current when it was opened.

    Whoosh's index re-reads the newest TOC for every reader and every ``schema`` lookup: a
    file read and unpickling each time, and a reader made after an update's commit would
    number documents differently from the arrays the query path read before it."""

    def __init__(self, storage, schema=None, indexname=_DEF_INDEX_NAME):
        super().__init__(storage, schema, indexname)
        self._toc = TOC.read(storage, indexname, schema=schema)

    def _read_toc(self):
        return self._toc


def open_for_search(path: str | Path) -> FileIndex:
    """Open the index in ``path`` for reading, its files memory-mapped, at its current TOC."""
    return SnapshotIndex(MappedFileStorage(path))
