"""The imaging-method facet as a tree: every FBbi term that any matching dataset's methods
fall under, counted with its narrower terms (``f_imaging_method_tree`` holds each
dataset's methods plus their ancestors), and nested under its nearest counted ancestor."""

from __future__ import annotations

from harvesters.vocab.fbbi import fbbi


def _nearest_parent(key: str, present: set[str]) -> str | None:
    """The closest broader term that is also in the tree (breadth-first up the is_a links)."""
    ontology = fbbi()
    frontier = list(ontology.term(key).parents) if ontology.term(key) else []
    seen: set[str] = set()
    while frontier:
        for parent in sorted(frontier):
            if parent in present:
                return parent
        seen.update(frontier)
        frontier = [p for node in frontier if ontology.term(node) for p in ontology.term(node).parents if p not in seen]
    return None


def build_tree(counts: dict[str, int], selected: set[str], label) -> list[dict]:
    """Nested buckets ``{key, label, count, selected, children}``, largest first."""
    present = set(counts)
    nodes = {key: {"key": key, "label": label(key), "count": counts[key], "selected": key in selected, "children": []} for key in present}
    roots = []
    for key in sorted(present):
        parent = _nearest_parent(key, present) if key.startswith("FBbi:") else None
        (nodes[parent]["children"] if parent else roots).append(nodes[key])
    _sort(roots)
    return roots


def _sort(items: list[dict]) -> None:
    items.sort(key=lambda item: (-item["count"], item["label"].lower()))
    for item in items:
        _sort(item["children"])
