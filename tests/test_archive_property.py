"""Property: for any archive shaped like a real export, export(import(A)) == A (issue 12 item 6)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from archive_shapes import META, USERS, Shape, canonical, members, ts
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_archive_roundtrip import REPO, doc, primary, table_rows

from bbmirror.archive import export_archive, import_archive

SLOTS = sorted(USERS)
FIELDS = ["status", "responsible", "milestone", "version", "priority", "kind", "title", "content"]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
DELAYS = st.sampled_from([-0.0002, 0.0, 0.004, 0.0051, 0.3, 17.5])
USER = st.one_of(st.none(), st.sampled_from(SLOTS))


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    """A random archive: 1.0, 2.0 or both; ``"None"`` or ``""`` values; files maybe missing."""
    shape = Shape(USERS)
    none = draw(st.sampled_from(["", "None"]))
    numbers = draw(st.lists(st.integers(1, 30), min_size=1, max_size=4, unique=True))
    comment_ids = iter(range(5000, 6000))
    for number in numbers:
        at = draw(st.integers(0, 10**6))
        shape.issue(
            number,
            at,
            reporter=draw(USER),
            assignee=draw(USER),
            content=draw(st.one_of(TEXT, st.none())),
            status=draw(st.sampled_from(["new", "open", "on hold", "resolved"])),
            watchers=draw(st.lists(st.sampled_from(SLOTS), unique=True, max_size=3)),
        )
        for n in range(draw(st.integers(0, 3))):
            edited = draw(st.one_of(st.none(), st.floats(0, 1000)))
            comment = shape.comment(
                next(comment_ids),
                number,
                draw(USER),
                at + 10 * (n + 1),
                content=draw(st.one_of(st.none(), TEXT)),
                updated_on=None if edited is None else ts(at + 10 * (n + 1) + edited),
            )
            for _ in range(draw(st.integers(0, 3))):
                old, new = (draw(st.one_of(st.just(none), TEXT)) for _ in "ab")
                shape.log(comment, draw(st.sampled_from(FIELDS)), old, new, draw(DELAYS))
        for n in range(draw(st.integers(0, 3))):
            name = draw(st.sampled_from(["a.txt", "trace.log", "Screen Shot.png"]))
            path = shape.attach(number, name, f"{n}:{number}".encode(), draw(USER), 1.4e9 + n)
            if draw(st.booleans()):
                shape.missing.add(path)
    if draw(st.booleans()):
        shape.meta = None
    formats = draw(st.sampled_from([("1.0",), ("2.0",), ("1.0", "2.0")]))
    return shape.zip(*formats)


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(archives())
def test_any_real_shaped_archive_round_trips(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a.zip").write_bytes(data)
        import_archive(root / "a.db", root / "a.zip", REPO)
        export_archive(root / "a.db", REPO, root / "b.zip")
        original, exported = members(data), members((root / "b.zip").read_bytes())
        expected = doc(original)
        expected.setdefault("meta", META)
        assert canonical(doc(exported, primary(original))) == canonical(expected)
        import_archive(root / "b.db", root / "b.zip", REPO)
        assert table_rows(root / "b.db") == table_rows(root / "a.db")
