"""A Whoosh segment writer for full builds that works a posting list at a time.

Whoosh's ``SegmentWriter`` spends most of a build in per-posting Python: a token stream of
``Token`` objects through every filter, a tuple per posting into an external-sort pool, then
``add_posting`` one at a time with a column lookup for each posting's field length (about
150 records/s on our records). ``BulkSegmentWriter`` writes the same segment files with
the same codec, but:

- text fields whose analyzer is a plain regex tokenizer, lower-casing and (optionally)
  stemming are analysed with one ``findall`` per value, a dict cache of stems and a
  precomputed encoding of single-position postings (``FastTextField``);
- postings are accumulated in memory per term (``array`` columns, no pool, no sort of
  individual postings) and written block by block through Whoosh's own
  ``W3PostingsWriter._write_block``, so the bytes on disk are what Whoosh would write;
- every other field (keywords, ids, numbers, dates) goes through the field's own
  ``index()``, unchanged;
- the bulk-analysed fields' positions are also written as position keys
  (``indexer.position_keys``), which the query path reads instead of Whoosh's pickled
  position blocks.

The result is an ordinary Whoosh segment: ``tests/indexer/test_bulk_writer.py`` checks term
by term that it holds the same postings, weights, positions, lengths, stored fields and
columns as Whoosh's writer produces for the same documents. It adds documents only: it
never merges segments (``add_reader`` refuses), so merging is left to Whoosh's writer. The writer holds one segment's postings in memory (about 0.5 GB per 100k
records), so the builder starts a new segment every ``segment_records`` records.
"""

from __future__ import annotations

import zlib
from array import array
from operator import sub
from pickle import dumps
from dataclasses import dataclass, field
from typing import Callable

from whoosh import formats
from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter
from whoosh.analysis.analyzers import CompositeAnalyzer
from whoosh.codec.whoosh3 import COMPRESSION_MIN_SIZE, WHOOSH3_HEADER_MAGIC, W3TermInfo
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import SegmentWriter

from indexer.position_keys import file_name, write_position_keys

STEM_CACHE_LIMIT = 1_000_000
ITEM_CACHE_LIMIT = 100_000
_TERMINFO = W3TermInfo._struct


class _Postings:
    """One term's postings in one segment, in document order."""

    __slots__ = ("docs", "weights", "values", "counts", "positions")

    def __init__(self) -> None:
        self.docs = array("I")
        self.weights = array("f")
        self.values: list[bytes] = []
        # Of bulk-analysed fields only: positions per posting and all positions, for the
        # segment's position keys (indexer.position_keys).
        self.counts = array("I")
        self.positions = array("I")


@dataclass
class FastTextField:
    """The analysis of a text field done in bulk, token for token what its Whoosh analyzer does.

    Only built for analyzers of the shape ``RegexTokenizer(gaps=False) [| LowercaseFilter]
    [| StemFilter]`` over a ``Positions`` format: ``plan_for`` returns None for anything
    else, and that field goes through Whoosh's own analysis.
    """

    pattern: object
    lower: bool
    stem: Callable[[str], str] | None
    ignore: frozenset
    encode: Callable[[list[int]], bytes]
    field_boost: float
    _stems: dict = field(default_factory=dict)
    _single: list = field(default_factory=list)

    def tokens(self, text: str) -> list[str]:
        """The index terms of ``text``, one per position."""
        tokens = self.pattern.findall(text) if self.pattern.groups == 0 else [m.group(0) for m in self.pattern.finditer(text)]
        if self.lower:
            tokens = [t.lower() for t in tokens]
        if self.stem is not None:
            stems = self._stems
            tokens = [stems.get(t) or self._stem(t) for t in tokens]
        return tokens

    def _stem(self, token: str) -> str:
        if token in self.ignore:
            return token
        if len(self._stems) >= STEM_CACHE_LIMIT:
            self._stems.clear()
        stemmed = self._stems[token] = self.stem(token)
        return stemmed

    def single_position_values(self, count: int) -> list[bytes]:
        """The posting values for a term seen once, at position 0 to ``count - 1`` (computed
        once: most postings are of this kind)."""
        single = self._single
        while len(single) < count:
            single.append(self.encode([len(single)]))
        return single


def plan_for(fieldobj) -> FastTextField | None:
    """The bulk analysis of a field, or None when its analyzer or format is not the plain kind."""
    fmt = getattr(fieldobj, "format", None)
    analyzer = getattr(fieldobj, "analyzer", None)
    if type(fmt) is not formats.Positions or fieldobj.vector or fieldobj.separate_spelling():
        return None
    items = analyzer.items if isinstance(analyzer, CompositeAnalyzer) else [analyzer]
    if not items or type(items[0]) is not RegexTokenizer or items[0].gaps:
        return None
    lower, stem, ignore = False, None, frozenset()
    for item in items[1:]:
        if type(item) is LowercaseFilter and not lower and stem is None:
            lower = True
        elif type(item) is StemFilter and stem is None and not item.lang:
            stem, ignore = item.stemfn, frozenset(item.ignore or ())
        else:
            return None
    return FastTextField(items[0].expression, lower, stem, ignore, fmt.encode, fmt.field_boost)


class BulkSegmentWriter(SegmentWriter):
    """A ``SegmentWriter`` that writes postings a term at a time (see the module docstring).

    Supports what our schema needs: no per-document or per-field boosts, no term vectors,
    no separate spelling fields (the constructor refuses a schema that has them).
    """

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        self._plans: dict[str, FastTextField | None] = {}
        self._postings: dict[str, dict] = {}
        self._lengths: dict[str, array] = {}
        self._item_cache: dict[str, dict] = {}
        for name, fieldobj in self.schema.items():
            if fieldobj.vector or fieldobj.separate_spelling():
                raise ValueError(f"BulkSegmentWriter does not write vectors or spelling fields ({name})")
            if fieldobj.indexed:
                self._plans[name] = plan_for(fieldobj)
                self._postings[name] = {}
            if fieldobj.scorable:
                self._lengths[name] = array("I")

    def add_reader(self, reader):
        """Refused: postings copied from a reader would go to Whoosh's pool, which this
        writer does not write. Merge segments with Whoosh's own writer."""
        raise NotImplementedError("BulkSegmentWriter does not merge segments; use Whoosh's writer")

    def _merge_segments(self, mergetype, optimize, merge):
        return self.segments  # never merges (see add_reader), whatever commit() is asked

    def add_document(self, **fields):
        """Add one document (same arguments as ``SegmentWriter.add_document``, without boosts)."""
        self._check_state()
        if any(name.startswith("_") for name in fields):
            raise ValueError("BulkSegmentWriter does not take boosts or custom stored values")
        names = sorted(fields)
        self._check_fields(self.schema, names)
        docnum = self.docnum
        perdoc = self.perdocwriter
        lengths = {}
        perdoc.start_doc(docnum)
        try:
            for name in names:
                value = fields[name]
                if value is None:
                    continue
                fieldobj = self.schema[name]
                length = self._index_value(name, fieldobj, value, docnum) if fieldobj.indexed else 0
                lengths[name] = length
                perdoc.add_field(name, fieldobj, value if fieldobj.stored else None, length)
                if fieldobj.column_type:
                    perdoc.add_column_value(name, fieldobj.column_type, fieldobj.to_column_value(value))
        except ValueError:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        for name, column in self._lengths.items():
            column.append(lengths.get(name, 0))
        self._added = True
        self.docnum += 1

    def _index_value(self, name: str, fieldobj, value, docnum: int) -> int:
        plan = self._plans[name]
        terms = self._postings[name]
        if plan is None or not isinstance(value, str):
            return self._index_with_whoosh(name, fieldobj, value, docnum, terms)
        positions: dict[str, list[int]] = {}
        tokens = plan.tokens(value)
        for pos, token in enumerate(tokens):
            seen = positions.get(token)
            if seen is None:
                positions[token] = [pos]
            else:
                seen.append(pos)
        boost = plan.field_boost
        single = plan.single_position_values(len(tokens))
        encode = plan.encode
        for token, poslist in positions.items():
            postings = terms.get(token)
            if postings is None:
                postings = terms[token] = _Postings()
            postings.docs.append(docnum)
            postings.counts.append(len(poslist))
            if len(poslist) == 1:
                postings.weights.append(boost)
                postings.values.append(single[poslist[0]])
                postings.positions.append(poslist[0])
            else:
                postings.weights.append(len(poslist) * boost)
                postings.values.append(encode(poslist))
                postings.positions.extend(poslist)
        return len(tokens) if fieldobj.scorable else 0

    def _index_with_whoosh(self, name: str, fieldobj, value, docnum: int, terms: dict) -> int:
        items = self._whoosh_items(name, fieldobj, value)
        length = 0
        for btext, freq, weight, vbytes in items:
            if fieldobj.scorable:
                length += freq
            postings = terms.get(btext)
            if postings is None:
                postings = terms[btext] = _Postings()
            postings.docs.append(docnum)
            postings.weights.append(weight)
            if vbytes:
                postings.values.append(vbytes)
        return length

    def _whoosh_items(self, name: str, fieldobj, value) -> list:
        """``fieldobj.index(value)`` as a list, remembered per value: facet keys, years and
        counts repeat across records, and a numeric value expands to one term per tier."""
        cache = self._item_cache.setdefault(name, {})
        try:
            items = cache.get(value)
        except TypeError:  # an unhashable value (a list of keywords)
            return list(fieldobj.index(value))
        if items is None:
            if len(cache) >= ITEM_CACHE_LIMIT:
                cache.clear()
            items = cache[value] = list(fieldobj.index(value))
        return items

    # -- writing the segment ---------------------------------------------------------

    def _flush_segment(self):
        self.perdocwriter.close()
        writer = self.fieldwriter
        for name in sorted(self._postings):
            terms = self._postings[name]
            if not terms:
                continue
            fieldobj = self.schema[name]
            writer.start_field(name, fieldobj)
            term_writer = _TermWriter(writer, fieldobj.format, self._block_lengths(name))
            encoded = sorted(((t.encode("utf-8") if isinstance(t, str) else t), t) for t in terms)
            for btext, key in encoded:
                term_writer.write(btext, terms[key])
            writer.finish_field()
            if self._plans.get(name) is not None:
                self._write_position_keys(name, [(btext, terms[key]) for btext, key in encoded])
            self._postings[name] = {}
        writer.close()

    def _write_position_keys(self, name: str, terms: list) -> None:
        out = self.storage.create_file(file_name(self.newsegment, name))
        try:
            write_position_keys(out, ((btext, p.docs, p.counts, p.positions) for btext, p in terms))
        finally:
            out.close()

    def _block_lengths(self, name: str) -> list | None:
        """Per document, the field length a posting block records (what Whoosh reads back
        from the length byte: quantised, None for no length), or None for unscored fields."""
        lengths = self._lengths.get(name)
        if lengths is None:
            return None
        quantised: dict[int, int | None] = {}
        out = []
        for length in lengths:
            if length not in quantised:
                byte = length_to_byte(length)
                quantised[length] = byte_to_length(byte) if byte else None
            out.append(quantised[length])
        return out


class _TermWriter:
    """Writes one field's posting lists and term infos in the W3 codec's format.

    Byte for byte what ``W3PostingsWriter`` (``start_postings``, ``add_posting``,
    ``_write_block``, ``finish_postings``) and ``W3FieldWriter.finish_term`` write, without
    their per-posting calls: a header, then blocks of ``blocklimit`` postings, each a
    pickled block info and a pickled (zlib-compressed from 80 bytes) tuple of delta-coded
    ids, minified weights and values; the last block's length is negative.
    """

    def __init__(self, fieldwriter, fmt, lengths: list | None):
        self._postfile = fieldwriter._postfile.file
        self._terms = fieldwriter._tindex
        self._prefix = pack_ushort(fieldwriter._fieldid)
        postwriter = fieldwriter._postwriter
        self._limit = postwriter._blocklimit
        self._compression = postwriter._compression
        if postwriter._inlinelimit > 1 or postwriter._byteids:
            raise ValueError("BulkSegmentWriter writes only the W3 codec's default posting lists")
        self._fixedsize = fmt.fixed_value_size()
        self._lengths = lengths

    def write(self, btext: bytes, postings: _Postings) -> None:
        """Write one term's posting list and add its term info to the term index."""
        docs, weights, values = postings.docs, postings.weights, postings.values
        count = len(docs)
        if values and len(values) != count:
            raise ValueError("a term's postings mix empty and non-empty values")
        postfile = self._postfile
        offset = postfile.tell()
        postfile.write(WHOOSH3_HEADER_MAGIC)
        total_weight, minlength, maxlength, maxweight = 0, None, 0, 0
        for start in range(0, count, self._limit):
            end = min(start + self._limit, count)
            ids, block_weights = docs[start:end], weights[start:end]
            block_min, block_max = self._block_lengths(ids)
            block_maxweight = max(0, max(block_weights))
            total_weight += sum(block_weights)
            if minlength is None:
                minlength = block_min
            else:
                minlength = min(minlength, block_min)
            maxlength = max(maxlength, block_max)
            maxweight = max(maxweight, block_maxweight)
            deltas = (ids[0], *map(sub, ids[1:], ids)) if len(ids) > 1 else (ids[0],)
            data = dumps((deltas, _mini_weights(block_weights), self._mini_values(values[start:end])), 2)
            compression = self._compression if len(data) >= COMPRESSION_MIN_SIZE else 0
            if compression:
                data = zlib.compress(data, compression)
            info = dumps((len(ids), ids[-1], block_maxweight, compression,
                          length_to_byte(block_min), length_to_byte(block_max)), 2)
            blocklength = len(info) + len(data)
            postfile.write(pack_int(-blocklength if end == count else blocklength))
            postfile.write(info)
            postfile.write(data)
        length = postfile.tell() - offset
        terminfo = _TERMINFO.pack(
            0, total_weight, count, 0 if minlength is None else length_to_byte(minlength),
            length_to_byte(maxlength), maxweight, docs[0], docs[-1],
        ) + pack_long(offset) + pack_int(length)
        self._terms.add(self._prefix + btext, terminfo)

    def _block_lengths(self, ids) -> tuple[int | None, int]:
        if self._lengths is None:
            return None, 0
        present = [q for q in map(self._lengths.__getitem__, ids) if q]
        return (min(present), max(present)) if present else (None, 0)

    def _mini_values(self, values: list[bytes]):
        if self._fixedsize is None or self._fixedsize < 0:
            return tuple(values)
        if self._fixedsize == 0:
            return None
        return b"".join(values)


def _mini_weights(weights: array):
    first = weights[0]
    if first == 1.0 and all(w == 1.0 for w in weights):
        return None
    if all(w == first for w in weights):
        return first
    return tuple(weights)
