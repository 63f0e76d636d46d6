"""A Whoosh segment writer for full builds that works a field at a time.

Whoosh's ``SegmentWriter`` spends most of a build in per-posting Python: a token stream of
``Token`` objects through every filter, a tuple per posting into an external-sort pool, then
``add_posting`` one at a time with a column lookup for each posting's field length (about
150 records/s on our records). ``BulkSegmentWriter`` writes the same segment files with
the same codec, but:

- text fields whose analyzer is a plain regex tokenizer, lower-casing and (optionally)
  stemming are analysed a whitespace-separated word at a time, with a dict from word
  straight to its term numbers (``FastTextField``); a document adds one term number per
  token to an ``array``, nothing per posting;
- id and keyword fields are split by a regex or not at all, stripped and lower-cased
  without Whoosh's token stream (``KeywordPlan``); other fields (numbers, dates) go
  through the field's own ``index()``; both are remembered per value and add their
  postings to ``array`` columns;
- at commit, numpy groups a field's tokens or postings by term (a stable sort keeps them
  in document and position order) and computes every block's statistics at once;
  ``_TermWriter`` then writes the posting blocks and term infos in the W3 codec's format,
  with Whoosh's pickling and compression. What Python would do per posting is laid out
  with numpy instead, opcode for opcode what Whoosh's calls write: the position values
  (``Positions.encode``) and the values part of each block's pickle; a field's term
  index records (``HashWriter.add``) are written in one piece;
- the bulk-analysed fields' positions are also written as position keys
  (``indexer.position_keys``), which the query path reads instead of Whoosh's pickled
  position blocks.

The result is the segment Whoosh's writer writes for the same documents, file for file
byte for byte (besides the position keys): ``tests/indexer/test_bulk_writer.py`` checks it,
and term by term the same postings, weights, positions and lengths. It adds documents only: it
never merges segments (``add_reader`` refuses), so merging is left to Whoosh's writer. The
writer holds one segment's term numbers and postings in memory (4 bytes per token, about
20 per posting of other fields: about 9 MB per 1,000 of our records) and at commit one
field's arrays (about 50 bytes per token of the largest field), so the builder starts a new
segment every ``segment_records`` records.
"""

from __future__ import annotations

import re
import zlib
from array import array
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import itemgetter
from pickle import dumps
from struct import Struct
from typing import Callable

import numpy as np
from whoosh import formats
from whoosh.analysis import IDTokenizer, LowercaseFilter, RegexTokenizer, StemFilter, StripFilter
from whoosh.analysis.analyzers import CompositeAnalyzer
from whoosh.codec.whoosh3 import COMPRESSION_MIN_SIZE, LENGTHS_COLUMN, WHOOSH3_HEADER_MAGIC, W3TermInfo
from whoosh.fields import FieldType
from whoosh.system import pack_int, pack_uint, pack_ushort
from whoosh.util.numeric import length_to_byte
from whoosh.writing import SegmentWriter

from indexer.position_keys import file_name, write_position_keys
from indexer.schema import TOKEN_PATTERN

STEM_CACHE_LIMIT = 1_000_000
MEMO_LIMIT = 1_000_000
# Token patterns for which FastTextField.by_words holds (checked by the tests).
WORD_PATTERNS = frozenset({TOKEN_PATTERN})
ITEM_CACHE_LIMIT = 100_000
BATCH_TERMS = 4096  # terms whose posting lists are gathered before a write
BATCH_POSTINGS = 1 << 16
# W3TermInfo.to_bytes of an extent (not inlined) term info: the info, offset and length.
_TERMINFO = Struct(W3TermInfo._struct.format + "qi")
_KEY_LENGTHS = Struct("!ii")  # HashWriter.add's key and value lengths


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
    # Whether the tokens of a text are those of its whitespace-separated words, one after
    # another: true of a pattern that matches no whitespace, asserts nothing about its
    # neighbours and never matches empty. Words repeat far more than texts, so the bulk
    # analysis remembers the term numbers of each word.
    by_words: bool = field(init=False)

    def __post_init__(self):
        self.by_words = self.pattern.pattern in WORD_PATTERNS and self.pattern.flags == re.UNICODE

    def tokens(self, text: str) -> list[str]:
        """The index terms of ``text``, one per position."""
        words = text.split() if self.by_words else [text]
        return [self.term(token) for word in words for token in self.raw_tokens(word)]

    def raw_tokens(self, text: str) -> list[str]:
        """The tokenizer's matches in ``text``, one per position, before any filter."""
        if self.pattern.groups == 0:
            return self.pattern.findall(text)
        return [m.group(0) for m in self.pattern.finditer(text)]

    def term(self, token: str) -> str:
        """The index term of one raw token (lower-cased and stemmed as the analyzer does)."""
        if self.lower:
            token = token.lower()
        if self.stem is None:
            return token
        return self._stems.get(token) or self._stem(token)

    def _stem(self, token: str) -> str:
        if token in self.ignore:
            return token
        if len(self._stems) >= STEM_CACHE_LIMIT:
            self._stems.clear()
        stemmed = self._stems[token] = self.stem(token)
        return stemmed


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


@dataclass
class KeywordPlan:
    """``fieldobj.index(text)`` of an id or keyword field without Whoosh's token stream: the
    same items (term, frequency, weight, value), in another order.

    Only built for fields that keep ``FieldType.index``, with an ``Existence`` or
    ``Frequency`` format and an analyzer ``IDTokenizer`` or ``RegexTokenizer(gaps=False)``
    followed by any of ``StripFilter`` and ``LowercaseFilter`` (``keyword_plan_for``).
    """

    pattern: object | None  # None: the whole text is the one token (IDTokenizer)
    filters: tuple[Callable[[str], str], ...]
    frequency: bool
    field_boost: float

    def items(self, text: str) -> list[tuple[bytes, int, float, bytes]]:
        """What ``fieldobj.index(text)`` yields, as a list."""
        if self.pattern is None:
            tokens = [text]
        elif self.pattern.groups == 0:
            tokens = self.pattern.findall(text)
        else:
            tokens = [m.group(0) for m in self.pattern.finditer(text)]
        for method in self.filters:
            tokens = list(map(method, tokens))
        boost = self.field_boost
        if not self.frequency:
            return [(token.encode("utf-8"), 1, boost, b"") for token in dict.fromkeys(tokens)]
        counts: dict[str, int] = {}
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
        return [(token.encode("utf-8"), n, float(n) * boost, pack_uint(n)) for token, n in counts.items()]


_STRING_FILTERS = {LowercaseFilter: str.lower, StripFilter: str.strip}


def keyword_plan_for(fieldobj) -> KeywordPlan | None:
    """The analysis of an id or keyword field without Whoosh's token stream, or None for
    any other field (see ``KeywordPlan``)."""
    fmt = getattr(fieldobj, "format", None)
    if type(fmt) not in (formats.Existence, formats.Frequency) or type(fieldobj).index is not FieldType.index:
        return None
    analyzer = getattr(fieldobj, "analyzer", None)
    items = analyzer.items if isinstance(analyzer, CompositeAnalyzer) else [analyzer]
    if not items or type(items[0]) not in (IDTokenizer, RegexTokenizer) or getattr(items[0], "gaps", False):
        return None
    if any(type(item) not in _STRING_FILTERS for item in items[1:]):
        return None
    pattern = items[0].expression if type(items[0]) is RegexTokenizer else None
    filters = tuple(_STRING_FILTERS[type(item)] for item in items[1:])
    return KeywordPlan(pattern, filters, type(fmt) is formats.Frequency, fmt.field_boost)


def encode_positions(positions: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> list[bytes]:
    """``Positions.encode`` of several position lists at once: list ``i`` is
    ``positions[starts[i]:starts[i] + counts[i]]`` (ascending, not empty).

    A value is the count (``pack_uint``) and the protocol-2 pickle of the list of the
    positions' differences (the first one from 0). Lists of up to PICKLE_BATCH items are
    laid out with numpy, ENCODE_LISTS at a time, opcode for opcode what ``pickle.dumps``
    writes; longer ones are pickled one by one. Every value is a bytes object of its own,
    as Whoosh's are: a pickle of a block refers back to a value it holds twice, which
    would make the block's pickle shorter than Whoosh's.
    """
    fits = counts <= PICKLE_BATCH
    if fits.all() and len(counts) <= ENCODE_LISTS:
        return _pickled_lists(positions, starts, counts)
    values: list[bytes | None] = [None] * len(counts)
    laid_out = np.flatnonzero(fits)
    for lo in range(0, len(laid_out), ENCODE_LISTS):
        chosen = laid_out[lo:lo + ENCODE_LISTS]
        for i, value in zip(chosen.tolist(), _pickled_lists(positions, starts[chosen], counts[chosen])):
            values[i] = value
    for i in np.flatnonzero(~fits).tolist():
        listed = positions[starts[i]:starts[i] + counts[i]].astype(np.int64)
        values[i] = pack_uint(len(listed)) + dumps(np.diff(listed, prepend=0).tolist(), 2)
    return values


# Pickle protocol 2 of a list of up to PICKLE_BATCH ints: PROTO 2, EMPTY_LIST, BINPUT 0,
# an int opcode each (BININT1 / BININT2 / BININT for one, two or four bytes), then STOP
# after APPEND for one item, or MARK before the items and APPENDS after them for several.
# Longer lists are written in batches (a MARK ... APPENDS per batch).
PICKLE_BATCH = 1000
ENCODE_LISTS = 1 << 16  # lists laid out at a time (bounds the arrays' memory)
_LIST_OPEN = np.frombuffer(b"\x80\x02]q\x00", np.uint8)
_HEAD = 4 + len(_LIST_OPEN)  # the count, then the list's opening
_MARK, _APPEND, _APPENDS, _STOP = b"("[0], b"a"[0], b"e"[0], b"."[0]
_BININT1, _BININT2, _BININT = b"K"[0], b"M"[0], b"J"[0]


def _pickled_lists(positions: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> list[bytes]:
    """``Positions.encode`` of each list (1 to PICKLE_BATCH positions) of ``encode_positions``."""
    if not len(counts):
        return []
    out, begins, ends = _laid_out_lists(positions, starts, counts)
    data = out.tobytes()
    return [data[a:b] for a, b in zip(begins.tolist(), ends.tolist())]


def _laid_out_lists(positions: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> tuple:
    """``Positions.encode`` of each list (1 to PICKLE_BATCH positions, at least one list),
    one after another in an array of bytes, and where each begins and ends."""
    starts, counts = starts.astype(np.int64), counts.astype(np.int64)
    firsts = np.cumsum(counts) - counts  # each list's first item among all items
    items = np.repeat(starts - firsts, counts) + np.arange(int(counts.sum()))
    ints = positions[items].astype(np.int64)
    ints[1:] -= ints[:-1].copy()
    ints[firsts] = positions[starts]
    if not 0 <= ints.min() <= ints.max() < 1 << 31:
        raise ValueError("positions out of range")
    sizes = np.where(ints < 1 << 8, 2, np.where(ints < 1 << 16, 3, 5))
    several = counts > 1
    heads = _HEAD + several  # a MARK after the opening of a list of several
    lengths = heads + np.add.reduceat(sizes, firsts) + 2
    ends = np.cumsum(lengths)
    begins = ends - lengths
    out = np.zeros(int(ends[-1]), np.uint8)
    out[begins[:, None] + np.arange(4)] = counts.astype(">u4").view(np.uint8).reshape(-1, 4)
    out[begins[:, None] + np.arange(4, _HEAD)] = _LIST_OPEN
    out[begins[several] + _HEAD] = _MARK
    before = np.cumsum(sizes) - sizes  # bytes of the items before each item
    at = np.repeat(begins + heads - before[firsts], counts) + before
    out[at] = np.where(sizes == 2, _BININT1, np.where(sizes == 3, _BININT2, _BININT))
    little = ints.astype("<u4").view(np.uint8).reshape(-1, 4)
    for byte in range(4):
        wide = sizes > 1 + byte
        out[at[wide] + 1 + byte] = little[wide, byte]
    out[ends - 2] = np.where(several, _APPENDS, _APPEND)
    out[ends - 1] = _STOP
    return out, begins, ends


# A posting block's pickle is ``dumps((ids, weights, values), 2)``. With values of their own
# (not shared between postings, as in Whoosh's writer) the part from the values tuple on
# depends only on the values' bytes and on how many objects the pickle remembered before
# (1 for the ids tuple, 1 more for a weights tuple). For protocol 2, a bytes value is
# pickled as ``_codecs.encode(value.decode("latin1"), "latin1")``: the first value of a
# tuple writes GLOBAL _codecs.encode, its text (BINUNICODE, UTF-8), the text "latin1",
# TUPLE2 and REDUCE, remembering each (BINPUT); later values refer back to the function and
# to "latin1" (BINGET). The tuple is MARK ... TUPLE (or TUPLE1-3 for up to three values),
# remembered, then the block's TUPLE3, BINPUT and STOP. Memo numbers from 256 on take
# LONG_BINPUT and four bytes.
_ENCODE = np.frombuffer(b"c_codecs\nencode\n", np.uint8)
_LATIN1 = np.frombuffer(b"X\x06\x00\x00\x00latin1", np.uint8)
_BINUNICODE, _TUPLE2, _REDUCE, _TUPLE3 = b"X"[0], b"\x86"[0], b"R"[0], b"\x87"[0]
_BINPUT, _LONG_BINPUT, _BINGET = b"q"[0], b"r"[0], b"h"[0]
_TUPLES = np.frombuffer(b"t\x85\x86\x87", np.uint8)  # TUPLE, then TUPLE1 to TUPLE3 by size


def _values_pickles(out: np.ndarray, begins: np.ndarray, ends: np.ndarray, blocks: np.ndarray,
                    sizes: np.ndarray, remembered: np.ndarray) -> list[bytes]:
    """Per block, the end of its pickle from its values tuple on (see above): block ``j``
    holds values ``blocks[j]`` to ``blocks[j] + sizes[j]`` (value ``i`` is
    ``out[begins[i]:ends[i]]``), its pickle having remembered ``remembered[j]`` (1 or 2)
    objects before."""
    text, text_begins, text_lengths = _latin1_as_utf8(out, begins, ends)
    firsts = np.cumsum(sizes) - sizes
    chosen = np.repeat(blocks - firsts, sizes) + np.arange(int(sizes.sum()))
    values = _BlockValues(text_begins[chosen], text_lengths[chosen], firsts, sizes, remembered)
    tuple_memo = remembered + 3 * sizes + 2
    opening = (sizes > 3).astype(np.int64)
    closing = 1 + _put_size(tuple_memo) + 1 + _put_size(tuple_memo + 1) + 1
    before = np.cumsum(values.lengths) - values.lengths
    block_lengths = opening + np.add.reduceat(values.lengths, firsts) + closing
    block_ends = np.cumsum(block_lengths)
    block_begins = block_ends - block_lengths
    data = np.zeros(int(block_ends[-1]), np.uint8)
    data[block_begins[sizes > 3]] = _MARK
    block = values.block
    values.write(data, block_begins[block] + opening[block] + before - before[firsts][block], text)
    at = block_ends - closing
    data[at] = _TUPLES[np.where(sizes > 3, 0, sizes)]
    _put(data, at + 1, tuple_memo)
    at = at + 1 + _put_size(tuple_memo)
    data[at] = _TUPLE3
    _put(data, at + 1, tuple_memo + 1)
    data[block_ends - 1] = _STOP
    joined = data.tobytes()
    return [joined[a:b] for a, b in zip(block_begins.tolist(), block_ends.tolist())]


class _BlockValues:
    """The values of several blocks' tuples as ``_values_pickles`` writes them: where each
    value's text is, its memo numbers and the bytes it takes."""

    def __init__(self, text_begins: np.ndarray, text_lengths: np.ndarray, firsts: np.ndarray, sizes: np.ndarray,
                 remembered: np.ndarray):
        self.text_begins, self.text_lengths = text_begins, text_lengths
        self.block = np.repeat(np.arange(len(sizes)), sizes)
        place = np.arange(len(text_begins)) - firsts[self.block]  # in its block
        self.base = remembered[self.block]  # the memo number of _codecs.encode; "latin1" is 2 on
        self.first = place == 0
        self.memo_text = np.where(self.first, self.base + 1, self.base + 3 * place + 2)
        self.memo_pair = np.where(self.first, self.base + 3, self.base + 3 * place + 3)  # then its REDUCE's
        self.lengths = (np.where(self.first, len(_ENCODE) + 2, 2) + 5 + text_lengths + _put_size(self.memo_text)
                        + np.where(self.first, len(_LATIN1) + 2, 2) + 1 + _put_size(self.memo_pair)
                        + 1 + _put_size(self.memo_pair + 1))

    def write(self, data: np.ndarray, at: np.ndarray, text: np.ndarray) -> None:
        """Write the values into ``data``, each from ``at``, their texts taken from ``text``."""
        first, later, base = self.first, ~self.first, self.base
        data[at[first][:, None] + np.arange(len(_ENCODE))] = _ENCODE
        at = np.where(first, at + len(_ENCODE), at)
        _put(data, at[first], base[first])
        data[at[later]], data[at[later] + 1] = _BINGET, base[later]
        at = at + 2
        data[at] = _BINUNICODE
        data[at[:, None] + np.arange(1, 5)] = self.text_lengths.astype("<u4").view(np.uint8).reshape(-1, 4)
        at = at + 5
        _copy_runs(data, at, text, self.text_begins, self.text_lengths)
        at = at + self.text_lengths
        _put(data, at, self.memo_text)
        at = at + _put_size(self.memo_text)
        data[at[first][:, None] + np.arange(len(_LATIN1))] = _LATIN1
        at = np.where(first, at + len(_LATIN1), at)
        _put(data, at[first], base[first] + 2)
        data[at[later]], data[at[later] + 1] = _BINGET, base[later] + 2
        at = at + 2
        data[at] = _TUPLE2
        _put(data, at + 1, self.memo_pair)
        at = at + 1 + _put_size(self.memo_pair)
        data[at] = _REDUCE
        _put(data, at + 1, self.memo_pair + 1)


def _copy_runs(target: np.ndarray, target_starts: np.ndarray, source: np.ndarray, source_starts: np.ndarray,
               lengths: np.ndarray) -> None:
    """Copy ``source[source_starts[i]:][:lengths[i]]`` to ``target[target_starts[i]:]`` for each ``i``."""
    before = np.cumsum(lengths) - lengths
    steps = np.arange(int(lengths.sum()))
    target[np.repeat(target_starts - before, lengths) + steps] = source[np.repeat(source_starts - before, lengths) + steps]


def _latin1_as_utf8(out: np.ndarray, begins: np.ndarray, ends: np.ndarray) -> tuple:
    """The bytes ``out`` read as Latin-1 text and written as UTF-8 (bytes from 0x80 take two),
    and where each of the values ``out[begins[i]:ends[i]]`` begins and how long it is."""
    high = out >= 0x80
    widths = 1 + high
    at = np.cumsum(widths) - widths
    text = np.empty(int(at[-1] + widths[-1]), np.uint8)
    text[at] = np.where(high, 0xC0 | (out >> 6), out)
    text[at[high] + 1] = 0x80 | (out[high] & 0x3F)
    text_begins = at[begins]
    return text, text_begins, at[ends - 1] + widths[ends - 1] - text_begins


def _put_size(memo: np.ndarray) -> np.ndarray:
    """The bytes of BINPUT (or LONG_BINPUT) of each memo number."""
    return np.where(memo < 256, 2, 5)


def _put(data: np.ndarray, at: np.ndarray, memo: np.ndarray) -> None:
    """BINPUT (or LONG_BINPUT) of each memo number, at ``at``."""
    short = memo < 256
    data[at[short]], data[at[short] + 1] = _BINPUT, memo[short]
    long_at = at[~short]
    data[long_at] = _LONG_BINPUT
    data[long_at[:, None] + np.arange(1, 5)] = memo[~short].astype("<u4").view(np.uint8).reshape(-1, 4)


class BulkSegmentWriter(SegmentWriter):
    """A ``SegmentWriter`` that writes postings a field at a time (see the module docstring).

    Supports what our schema needs: no per-document or per-field boosts, no term vectors,
    no separate spelling fields (the constructor refuses a schema that has them).
    """

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        self._plans: dict[str, FastTextField | None] = {}
        self._postings: dict[str, _TextPostings | _ItemPostings] = {}
        self._lengths: dict[str, array] = {}
        for name, fieldobj in self.schema.items():
            if fieldobj.vector or fieldobj.separate_spelling():
                raise ValueError(f"BulkSegmentWriter does not write vectors or spelling fields ({name})")
            if fieldobj.indexed:
                plan = self._plans[name] = plan_for(fieldobj)
                self._postings[name] = _ItemPostings(fieldobj) if plan is None else _TextPostings(fieldobj, plan)
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
        added = []
        perdoc.start_doc(docnum)
        try:
            for name in names:
                value = fields[name]
                if value is None:
                    continue
                fieldobj = self.schema[name]
                length = 0
                if fieldobj.indexed:
                    postings = self._postings[name]
                    length = postings.add(docnum, value)
                    added.append(postings)
                lengths[name] = length
                if fieldobj.stored:  # lengths go to their columns at the flush (_write_lengths)
                    perdoc.add_field(name, fieldobj, value, 0)
                if fieldobj.column_type:
                    perdoc.add_column_value(name, fieldobj.column_type, fieldobj.to_column_value(value))
        except ValueError:
            for postings in added:  # a rejected document leaves no postings behind
                postings.drop(docnum)
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        for name, column in self._lengths.items():
            column.append(lengths.get(name, 0))
        self._added = True
        self.docnum += 1

    # -- writing the segment ---------------------------------------------------------

    def _flush_segment(self):
        length_bytes = self._write_lengths()
        self.perdocwriter.close()
        writer = self.fieldwriter
        for name in sorted(self._postings):
            postings = self._postings[name]
            if not postings:
                continue
            fieldobj = self.schema[name]
            grouped = postings.grouped()
            writer.start_field(name, fieldobj)
            _TermWriter(writer, fieldobj.format, length_bytes.get(name)).write(grouped)
            writer.finish_field()
            if isinstance(grouped, _GroupedText):
                self._write_position_keys(name, grouped)
            self._postings[name] = None
        writer.close()

    def _write_position_keys(self, name: str, grouped: _GroupedText) -> None:
        out = self.storage.create_file(file_name(self.newsegment, name))
        try:
            write_position_keys(out, grouped.position_terms())
        finally:
            out.close()

    def _write_lengths(self) -> dict[str, np.ndarray]:
        """Write what ``W3PerDocWriter.add_field`` writes per document for a field length,
        a field at a time: the segment's total length of the field and its column of length
        bytes (one byte per document up to the last with a length; Whoosh skips the zero
        bytes of ``LENGTHS_COLUMN``'s default and fills them in before the next byte).
        Returns per scored field the length byte of every document (0: no length)."""
        perdoc = self.perdocwriter
        length_bytes = {}
        for name, column in self._lengths.items():
            lengths = np.frombuffer(column, np.uint32)
            distinct, index = np.unique(lengths, return_inverse=True)
            as_bytes = length_bytes[name] = np.array([length_to_byte(int(n)) for n in distinct], np.uint8)[index.ravel()]
            total = int(lengths.sum(dtype=np.uint64))
            if total:
                perdoc._fieldlengths[name] += total
            written = np.flatnonzero(as_bytes)
            if len(written):
                end = int(written[-1]) + 1
                perdoc._create_column(f"_{name}_len", LENGTHS_COLUMN)
                writer = perdoc._get_column(f"_{name}_len")
                writer._dbfile.write(as_bytes[:end].tobytes())
                writer._count = end
        return length_bytes


# -- accumulating postings -----------------------------------------------------------


class _TermIds(dict):
    """Term → term number, numbered in order of first occurrence."""

    def __missing__(self, term):
        number = self[term] = len(self)
        return number


class _Memo(dict):
    """A function's results per argument (cleared when it reaches MEMO_LIMIT entries)."""

    __slots__ = ("_function",)

    def __init__(self, function: Callable):
        super().__init__()
        self._function = function

    def __missing__(self, key):
        result = self._function(key)
        if len(self) >= MEMO_LIMIT:
            self.clear()
        self[key] = result
        return result


class _TextPostings:
    """A bulk-analysed field's tokens in one segment: a term number per token, and per
    non-empty value its document and number of tokens."""

    def __init__(self, fieldobj, plan: FastTextField):
        self.fieldobj = fieldobj
        self.plan = plan
        ids = self.ids = _TermIds()
        # Raw token → term number: one dict lookup per token instead of lower-casing and
        # stemming each; word → its tokens' term numbers (see FastTextField.by_words).
        # (The functions do not refer to self: no reference cycle keeps the arrays alive.)
        token_ids = self._token_ids = _Memo(lambda token: ids[plan.term(token)])
        self._word_ids = _Memo(lambda word: tuple(map(token_ids.__getitem__, plan.raw_tokens(word))))
        self.tids = array("I")
        self.docs = array("I")
        self.counts = array("I")
        self._kept = 0  # tokens of the values in docs and counts

    def __len__(self) -> int:
        return len(self.tids)

    def add(self, docnum: int, value) -> int:
        """Add one document's value; returns its field length (0 for unscored fields)."""
        tids = self.tids
        before = len(tids)
        if not isinstance(value, str):
            tids.extend(self._whoosh_term_ids(value))
        elif self.plan.by_words:
            tids.extend(chain.from_iterable(map(self._word_ids.__getitem__, value.split())))
        else:
            tids.extend(map(self._token_ids.__getitem__, self.plan.raw_tokens(value)))
        count = len(tids) - before
        if count:
            self.docs.append(docnum)
            self.counts.append(count)
            self._kept = len(tids)
        return count if self.fieldobj.scorable else 0

    def _whoosh_term_ids(self, value) -> list[int]:
        """The term number at each position of a value the plan does not analyse (a list
        of words), from Whoosh's own postings of it."""
        at: dict[int, int] = {}
        decode = self.fieldobj.format.decode_positions
        found = 0
        for btext, _, _, vbytes in self.fieldobj.index(value):
            number = self.ids[btext.decode("utf-8")]
            for position in decode(vbytes):
                at[position] = number
                found += 1
        if found != len(at) or (at and max(at) != len(at) - 1):
            raise ValueError("BulkSegmentWriter needs one term at each position from 0")
        return [at[position] for position in range(len(at))]

    def drop(self, docnum: int) -> None:
        """Remove what ``add`` added for ``docnum`` (the last document added)."""
        if self.docs and self.docs[-1] == docnum:
            self.docs.pop()
            self._kept -= self.counts.pop()
        del self.tids[self._kept:]

    def grouped(self) -> _GroupedText:
        """The postings in term order (terms by UTF-8 bytes), each term's in document order."""
        tids = np.frombuffer(self.tids, np.uint32)
        terms, rank = _sorted_terms([t.encode("utf-8") for t in self.ids], tids)
        counts = np.frombuffer(self.counts, np.uint32)
        starts = np.cumsum(counts, dtype=np.int64) - counts
        # Tokens are in document then position order; a stable sort by term keeps that.
        order = np.argsort(rank[tids], kind="stable").astype(np.uint32)
        positions = order - np.repeat(starts.astype(np.uint32), counts)[order]
        docs = np.repeat(np.frombuffer(self.docs, np.uint32), counts)[order]
        token_terms = rank[tids[order]]
        del order
        first = np.empty(len(docs), bool)
        first[:1] = True
        first[1:] = (token_terms[1:] != token_terms[:-1]) | (docs[1:] != docs[:-1])
        posting_starts = np.flatnonzero(first)
        del first
        token_starts = np.searchsorted(token_terms, np.arange(len(terms) + 1))
        term_starts = np.searchsorted(posting_starts, token_starts)
        return _GroupedText(terms, term_starts, docs[posting_starts], token_starts, posting_starts, positions, self.plan)


class _ItemPostings:
    """Postings of a field analysed by Whoosh (``fieldobj.index``): a term number,
    document, weight and (for formats that have one) value per posting.

    A document's items are kept as the tuples ``_items`` returns (shared by every document
    with the same value) and expanded into arrays once, by ``grouped``.
    """

    def __init__(self, fieldobj):
        self.fieldobj = fieldobj
        self.plan = keyword_plan_for(fieldobj)
        # Values of no fixed size are pickled as a tuple, where one bytes object shared by
        # two postings (from a remembered value) would pickle shorter than Whoosh's.
        size = fieldobj.format.fixed_value_size()
        self._remember = size is not None and size >= 0
        self.ids = _TermIds()
        self._docs = array("I")  # per document with postings: its number
        self._items_added: list[tuple] = []  # ... and its (term numbers, weights, values, length)
        self._cache: dict = {}

    def __len__(self) -> int:
        """Documents with postings (non-zero exactly when there are postings)."""
        return len(self._items_added)

    def add(self, docnum: int, value) -> int:
        """Add one document's value; returns its field length (0 for unscored fields)."""
        items = self._items(value)
        if items[0]:
            self._docs.append(docnum)
            self._items_added.append(items)
        return items[3]

    def drop(self, docnum: int) -> None:
        """Remove what ``add`` added for ``docnum`` (the last document added)."""
        if self._docs and self._docs[-1] == docnum:
            self._docs.pop()
            self._items_added.pop()

    def _items(self, value) -> tuple:
        """``fieldobj.index(value)`` as term numbers, weights, values and field length,
        remembered per value: facet keys, years and counts repeat across records, and a
        numeric value expands to one term per tier."""
        if not self._remember:
            return self._index(value)
        try:
            items = self._cache.get(value)
        except TypeError:  # an unhashable value (a list of keywords)
            return self._index(value)
        if items is None:
            if len(self._cache) >= ITEM_CACHE_LIMIT:
                self._cache.clear()
            items = self._cache[value] = self._index(value)
        return items

    def _index(self, value) -> tuple:
        if self.plan is not None and isinstance(value, str):
            items = self.plan.items(value)
        else:
            items = list(self.fieldobj.index(value))
        ids = self.ids
        length = sum(freq for _, freq, _, _ in items) if self.fieldobj.scorable else 0
        return (tuple(ids[btext] for btext, _, _, _ in items), tuple(weight for _, _, weight, _ in items),
                tuple(vbytes for _, _, _, vbytes in items if vbytes), length)

    def grouped(self) -> _Grouped:
        """The postings in term order (terms by bytes), each term's in document order."""
        added = self._items_added
        tids = np.fromiter(chain.from_iterable(map(itemgetter(0), added)), np.uint32)
        values = list(chain.from_iterable(map(itemgetter(2), added)))
        if values and len(values) != len(tids):
            raise ValueError("a field's postings mix empty and non-empty values")
        per_doc = np.fromiter(map(len, map(itemgetter(0), added)), np.int64, len(added))
        docs = np.repeat(np.frombuffer(self._docs, np.uint32), per_doc)
        weights = np.fromiter(chain.from_iterable(map(itemgetter(1), added)), np.float32, len(tids))
        terms, rank = _sorted_terms(list(self.ids), tids)
        posting_terms = rank[tids]
        order = np.argsort(posting_terms, kind="stable")
        term_starts = np.searchsorted(posting_terms[order], np.arange(len(terms) + 1))
        return _Grouped(terms, term_starts, docs[order], weights[order], _objects(values)[order] if values else None)


def _sorted_terms(terms: list[bytes], tids: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """The terms that occur in ``tids`` sorted, and per term number its rank in that order
    (a term can be left without postings by a rejected document)."""
    used = np.bincount(tids, minlength=len(terms)).nonzero()[0].tolist()
    order = sorted(used, key=terms.__getitem__)
    # Sorting by a 16-bit rank is a radix sort, several times faster.
    rank = np.zeros(len(terms), np.uint16 if len(order) <= 1 << 16 else np.uint32)
    rank[order] = np.arange(len(order), dtype=np.uint32)
    return [terms[i] for i in order], rank


@dataclass
class _Grouped:
    """One field's postings in term order: term ``i`` has postings ``term_starts[i]`` to
    ``term_starts[i + 1]``, in document order."""

    terms: list[bytes]
    term_starts: np.ndarray
    docs: np.ndarray
    weights: np.ndarray
    values: np.ndarray | None  # of bytes objects; None for a format without values

    def batch_values(self, first: int, last: int, alone: np.ndarray, blocks: np.ndarray, sizes: np.ndarray,
                     remembered: np.ndarray) -> tuple[list, list | None]:
        """The values of postings ``first`` to ``last`` (empty for a format without values),
        and None: see ``_GroupedText.batch_values``."""
        return ([] if self.values is None else self.values[first:last].tolist()), None


class _GroupedText(_Grouped):
    """A bulk-analysed field's postings, with their positions (for values and position keys)."""

    def __init__(self, terms, term_starts, docs, token_starts, posting_starts, positions, plan):
        counts = np.diff(posting_starts, append=len(positions)).astype(np.uint32)
        weights = (counts * plan.field_boost).astype(np.float32)
        super().__init__(terms, term_starts, docs, weights, None)
        self.counts = counts
        self.token_starts = token_starts
        self.posting_starts = posting_starts
        self.positions = positions

    def batch_values(self, first: int, last: int, alone: np.ndarray, blocks: np.ndarray, sizes: np.ndarray,
                     remembered: np.ndarray) -> tuple[list, list | None]:
        """The ``Positions`` values of postings ``first`` to ``last`` (numbered from
        ``first``), encoded when asked, and the pickles of the values tuples of the given
        blocks (``_values_pickles``). Values are made only for the postings ``alone``
        (terms of one posting), as the pickles hold the others; when a posting has more
        positions than the layout takes, every value is made and the pickles are None."""
        starts, counts = self.posting_starts[first:last], self.counts[first:last]
        if counts.max() > PICKLE_BATCH or not len(blocks):
            return encode_positions(self.positions, starts, counts), None
        out, begins, ends = _laid_out_lists(self.positions, starts, counts)
        data = out.tobytes()
        values: list[bytes | None] = [None] * len(counts)
        for i, a, b in zip(alone.tolist(), begins[alone].tolist(), ends[alone].tolist()):
            values[i] = data[a:b]
        return values, _values_pickles(out, begins, ends, blocks, sizes, remembered)

    def position_terms(self):
        """``(term, docs, counts, positions)`` per term, for ``write_position_keys``."""
        term_starts, token_starts = self.term_starts.tolist(), self.token_starts.tolist()
        for i, term in enumerate(self.terms):
            a, b = term_starts[i], term_starts[i + 1]
            yield term, self.docs[a:b], self.counts[a:b], self.positions[token_starts[i]:token_starts[i + 1]]


def _objects(items: list) -> np.ndarray:
    """``items`` as a one-dimensional array of the same objects."""
    objects = np.empty(len(items), object)
    objects[:] = items
    return objects


# -- writing postings ----------------------------------------------------------------


class _TermWriter:
    """Writes one field's posting lists and term infos in the W3 codec's format.

    Byte for byte what ``W3PostingsWriter`` (``start_postings``, ``add_posting``,
    ``_write_block``, ``finish_postings``) and ``W3FieldWriter.finish_term`` write, without
    their per-posting calls: per term a header, then blocks of ``blocklimit`` postings, each
    a pickled block info and a pickled (zlib-compressed from 80 bytes) tuple of delta-coded
    ids, minified weights and values; the last block's length is negative.
    """

    def __init__(self, fieldwriter, fmt, length_bytes: np.ndarray | None):
        self._postfile = fieldwriter._postfile.file
        self._terms = fieldwriter._tindex
        self._prefix = pack_ushort(fieldwriter._fieldid)
        postwriter = fieldwriter._postwriter
        self._limit = postwriter._blocklimit
        self._compression = postwriter._compression
        if postwriter._inlinelimit > 1 or postwriter._byteids:
            raise ValueError("BulkSegmentWriter writes only the W3 codec's default posting lists")
        self._fixedsize = fmt.fixed_value_size()
        self._length_bytes = length_bytes

    def write(self, grouped: _Grouped) -> None:
        """Write every term's posting list and add its term info to the term index."""
        offset = self._postfile.tell()
        cuts = _batches(grouped.term_starts)
        for lo, hi in zip(cuts, cuts[1:]):
            lists = _BlockLists(grouped, lo, hi, self._limit, self._length_bytes)
            pieces, total_weights = self._posting_lists(lists)
            self._postfile.write(b"".join(pieces))
            lengths = list(map(len, pieces))
            offsets = list(accumulate(lengths, initial=offset))
            offset = offsets.pop()
            infos = list(map(_TERMINFO.pack, repeat(0), total_weights, lists.counts, lists.min_bytes, lists.max_bytes,
                             lists.max_weight, lists.first_docs, lists.last_docs, offsets, lengths))
            prefix = self._prefix
            _add_terms(self._terms, [prefix + term for term in grouped.terms[lo:hi]], infos)

    def _posting_lists(self, lists: _BlockLists) -> tuple[list[bytes], list[float]]:
        """The posting lists of the terms of ``lists`` and their total weights. A term with
        one posting (most terms) is written here, with less work than ``_term`` does."""
        docs, weights, values, term_starts = lists.docs, lists.weights, lists.values, lists.term_starts
        min_bytes, max_bytes = lists.min_bytes, lists.max_bytes
        compression, fixedsize, term = self._compression, self._fixedsize, self._term
        pieces, total_weights = [], []
        for t in range(len(lists.counts)):
            a = term_starts[t]
            if term_starts[t + 1] - a > 1:
                piece, total_weight = term(lists, t)
                pieces.append(piece)
                total_weights.append(total_weight)
                continue
            doc, weight = docs[a], weights[a]
            if fixedsize is None or fixedsize < 0:
                value = (values[a],)
            else:
                value = values[a] if fixedsize else None
            data = dumps(((doc,), None if weight == 1.0 else weight, value), 2)
            comp = compression if len(data) >= COMPRESSION_MIN_SIZE else 0
            if comp:
                data = zlib.compress(data, comp)
            info = dumps((1, doc, weight if weight > 0 else 0, comp, min_bytes[t], max_bytes[t]), 2)
            pieces.append(b"".join((WHOOSH3_HEADER_MAGIC, pack_int(-len(info) - len(data)), info, data)))
            total_weights.append(weight)
        return pieces, total_weights

    def _term(self, lists: _BlockLists, t: int) -> tuple[bytes, float]:
        """The posting list (a header and its blocks) of term ``t`` and its total weight."""
        docs, weights, values, deltas = lists.docs, lists.weights, lists.values, lists.deltas
        pieces = [WHOOSH3_HEADER_MAGIC]
        total_weight = 0
        last_block = lists.term_blocks[t + 1] - 1
        for j in range(lists.term_blocks[t], last_block + 1):
            a, b = lists.starts[j], lists.ends[j]
            block_weights = weights[a:b]
            if not lists.uniform[j]:
                mini_weights = tuple(block_weights)
            else:
                mini_weights = None if block_weights[0] == 1.0 else block_weights[0]
            if lists.pickles is None:
                data = dumps((tuple(deltas[a:b]), mini_weights, self._mini_values(values[a:b])), 2)
            else:  # the pickle of (ids, weights) up to its TUPLE2, BINPUT and STOP
                data = dumps((tuple(deltas[a:b]), mini_weights), 2)[:-4] + lists.pickles[j]
            total_weight += sum(block_weights)
            comp = self._compression if len(data) >= COMPRESSION_MIN_SIZE else 0
            if comp:
                data = zlib.compress(data, comp)
            weight = lists.block_max[j]
            info = dumps((b - a, docs[b - 1], weight if weight > 0 else 0, comp, lists.block_min_bytes[j],
                          lists.block_max_bytes[j]), 2)
            length = len(info) + len(data)
            pieces += (pack_int(-length if j == last_block else length), info, data)
        return b"".join(pieces), total_weight

    def _mini_values(self, values: list[bytes]):
        if self._fixedsize is None or self._fixedsize < 0:
            return tuple(values)
        if self._fixedsize == 0:
            return None
        return b"".join(values)


def _batches(term_starts: np.ndarray) -> list[int]:
    """Term numbers that cut a field's terms into batches written together: at most
    BATCH_TERMS terms, and a new batch once BATCH_POSTINGS more postings have passed (the
    Python lists of a batch's postings are several times the size of its arrays)."""
    terms = len(term_starts) - 1
    by_postings = np.searchsorted(term_starts, np.arange(0, term_starts[-1], BATCH_POSTINGS), side="right") - 1
    return sorted({*range(0, terms, BATCH_TERMS), *by_postings.tolist(), terms})


class _BlockLists:
    """The posting blocks of terms ``lo`` to ``hi`` of a field and their statistics,
    computed at once with numpy and kept as lists (their items are what the pickles hold).
    Numbers are relative to the batch: term ``t`` is term ``lo + t`` and has postings
    ``term_starts[t]`` to ``term_starts[t + 1]`` and blocks ``term_blocks[t]`` to
    ``term_blocks[t + 1]``; block ``j`` holds postings ``starts[j]`` to ``ends[j]``.
    ``values`` holds the values ``_TermWriter`` pickles itself (see ``batch_values``) and
    ``pickles[j]`` (when not None) block ``j``'s pickle from its values tuple on."""

    def __init__(self, grouped: _Grouped, lo: int, hi: int, limit: int, length_bytes: np.ndarray | None):
        first, last = int(grouped.term_starts[lo]), int(grouped.term_starts[hi])
        term_starts = grouped.term_starts[lo:hi + 1] - first
        counts = np.diff(term_starts)
        per_term = (counts + limit - 1) // limit
        term_blocks = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(per_term, out=term_blocks[1:])
        within = np.arange(term_blocks[-1]) - np.repeat(term_blocks[:-1], per_term)
        starts = np.repeat(term_starts[:-1], per_term) + within * limit
        ends = np.minimum(starts + limit, np.repeat(term_starts[1:], per_term))
        docs = grouped.docs[first:last].astype(np.int64)
        deltas = docs.copy()
        deltas[1:] -= docs[:-1]
        deltas[starts] = docs[starts]
        weights = grouped.weights[first:last]
        block_max = np.maximum.reduceat(weights, starts)
        uniform = block_max == np.minimum.reduceat(weights, starts)
        # A block's pickle remembers its ids tuple, and its weights when they are a tuple.
        several = np.flatnonzero(np.repeat(counts > 1, per_term))  # blocks of terms of several postings
        self.values, pickles = grouped.batch_values(first, last, term_starts[:-1][counts == 1], starts[several],
                                                    (ends - starts)[several], 2 - uniform[several])
        self.pickles: list | None = None
        if pickles is not None:
            self.pickles = [None] * len(starts)
            for j, pickled in zip(several.tolist(), pickles):
                self.pickles[j] = pickled
        self.docs, self.weights, self.deltas = docs.tolist(), weights.tolist(), deltas.tolist()
        self.term_starts, self.term_blocks = term_starts.tolist(), term_blocks.tolist()
        self.counts = counts.tolist()
        self.first_docs, self.last_docs = docs[term_starts[:-1]].tolist(), docs[term_starts[1:] - 1].tolist()
        self.starts, self.ends = starts.tolist(), ends.tolist()
        self.block_max, self.uniform = block_max.tolist(), uniform.tolist()
        self.max_weight = np.maximum(np.maximum.reduceat(block_max, term_blocks[:-1]), 0).tolist()
        self.block_min_bytes, self.block_max_bytes = _min_max_bytes(docs, length_bytes, starts)
        self.min_bytes, self.max_bytes = _min_max_bytes(docs, length_bytes, term_starts[:-1])


def _min_max_bytes(docs: np.ndarray, length_bytes: np.ndarray | None, starts: np.ndarray) -> tuple[list, list]:
    """Per run of postings from each of ``starts``: the least and greatest length byte of its
    documents, leaving out those of no length (0 when none has one)."""
    if length_bytes is None:
        zeros = [0] * len(starts)
        return zeros, zeros
    present = length_bytes[docs]
    least = np.minimum.reduceat(np.where(present == 0, 256, present.astype(np.uint16)), starts)
    least[least == 256] = 0
    return least.tolist(), np.maximum.reduceat(present, starts).tolist()


def _add_terms(tindex, keys: list[bytes], values: list[bytes]) -> None:
    """``tindex.add(key, value)`` (an ``OrderedHashWriter``) for each pair, in one write:
    the same records, hash entries and position index."""
    if not keys:
        return
    if keys[0] <= tindex.lastkey:
        raise ValueError(f"Keys must increase: {tindex.lastkey!r}..{keys[0]!r}")
    dbfile = tindex.dbfile
    position = dbfile.tell()
    positions, pieces = [], []
    pack = _KEY_LENGTHS.pack
    for key, value in zip(keys, values):
        positions.append(position)
        pieces += (pack(len(key), len(value)), key, value)
        position += _KEY_LENGTHS.size + len(key) + len(value)
    dbfile.write(b"".join(pieces))
    hashfn, buckets = tindex.hashfn, tindex.buckets
    for key, position in zip(keys, positions):
        hashed = hashfn(key)
        buckets[hashed & 255].append((hashed, position))
    tindex.index.extend(positions)
    tindex.lastkey = keys[-1]
