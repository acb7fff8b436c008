"""The instructor's guide and its exercises: every lesson has at least two, every
worked solution computes the numbers its text quotes, the solutions stay off
every page the app serves, and the guide's page and file say the same thing."""
import math
import re
from pathlib import Path

import nbformat
import pytest

from coupling_lab.exercises import EXERCISES, by_lesson, main, solutions_markdown
from coupling_lab.serve import MB_PER_KERNEL, SERVER_MB, ClassSettings, class_full_message, typical_memory_mb

REPO = Path(__file__).resolve().parents[1]
GUIDE_MD = REPO / "docs" / "instructor-guide.md"
GUIDE_NB = REPO / "notebooks" / "instructor-guide.ipynb"
LESSONS = ("00", "01", "02", "02b", "03", "04", "05", "06", "07", "08", "09", "10", "11")


def flat(text):
    return re.sub(r"\s+", " ", text).strip()


def test_at_least_two_exercises_per_lesson():
    counts = {lesson: len(items) for lesson, items in by_lesson().items()}
    assert set(counts) == set(LESSONS)
    assert all(n >= 2 for n in counts.values()), counts
    keys = [e.key for e in EXERCISES]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.key for e in EXERCISES])
def test_the_solution_produces_the_numbers_it_claims(exercise):
    got = exercise.solve()
    assert set(got) == set(exercise.claimed), exercise.key
    for name, claimed in exercise.claimed.items():
        assert round(float(got[name]), exercise.digits) == pytest.approx(claimed, abs=1e-9), (name, got[name])
    # every claimed number is quoted in the worked solution (not only computed)
    for name in exercise.claimed:
        assert "{" + name in exercise.solution, f"{exercise.key}: {name} is not in the solution text"
    assert exercise.solution_text()  # every field formats


def test_the_guide_asks_every_question_and_gives_no_solution():
    guide = flat(GUIDE_MD.read_text())
    for e in EXERCISES:
        assert flat(e.question) in guide, e.key
        assert flat(e.solution_text()) not in guide, e.key
    assert "**Solution.**" not in guide


def test_no_served_page_holds_a_solution():
    pages = sorted((REPO / "notebooks").rglob("*.ipynb"))
    assert GUIDE_NB in pages
    for page in pages:
        nb = nbformat.read(page, as_version=4)
        text = flat("\n".join(c.source for c in nb.cells))
        for e in EXERCISES:
            assert flat(e.solution_text()) not in text, (page.name, e.key)


def test_the_guide_page_and_the_file_say_the_same():
    nb = nbformat.read(GUIDE_NB, as_version=4)
    prose = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert prose.strip() == GUIDE_MD.read_text().strip()


def test_the_guide_covers_every_lesson_and_both_outlines():
    guide = GUIDE_MD.read_text()
    for lesson in LESSONS:
        assert f"- **{lesson} · " in guide, f"no learning objectives for lesson {lesson}"
        assert f"### Lesson {lesson}" in guide
    for heading in ("## A 50-minute class", "## A 90-minute class", "## Discussion questions", "## Running the class"):
        assert heading in guide
    for outline, total in (("## A 50-minute class", 50), ("## A 90-minute class", 90)):
        block = guide.split(outline, 1)[1].split("\n## ", 1)[0]
        spans = [(int(a), int(b)) for a, b in re.findall(r"^\| (\d+)–(\d+) \|", block, re.M)]
        assert spans[0][0] == 0 and spans[-1][1] == total, spans
        assert all(prev[1] == nxt[0] for prev, nxt in zip(spans, spans[1:])), f"gaps in {outline}: {spans}"


def test_the_guide_states_the_class_settings_the_server_uses():
    guide = flat(GUIDE_MD.read_text())
    s = ClassSettings()
    assert f"allows **{s.max_kernels}** at once" in guide
    assert flat(class_full_message(s.max_kernels)) in guide
    assert f"`--cull-idle-timeout` {s.cull_idle_timeout} s" in guide
    gb = lambda mb: f"{math.floor(mb / 100 + 0.5) / 10:.1f} GB"  # noqa: E731  (8350 MB -> 8.4 GB)
    assert f"40 pages need about {gb(typical_memory_mb(s))}" in guide
    assert f"(about {gb(typical_memory_mb(ClassSettings(max_kernels=60)))})" in guide
    assert f"Plan {MB_PER_KERNEL} MB per learner plus {SERVER_MB} MB for the server" in guide
    assert f"ceiling of {s.kernel_memory_mb} MB by default (`--kernel-memory-mb`;" in guide
    assert '"--kernel-memory-mb"' in (REPO / "coupling_lab" / "serve.py").read_text()  # the flag the guide names
    assert "make serve" in guide and "mybinder.org/v2/gh/" in guide and "make solutions" in guide


def test_make_solutions_writes_every_worked_solution(tmp_path):
    out = tmp_path / "solutions.md"
    main([str(out)])
    text = out.read_text()
    assert text == solutions_markdown()
    for e in EXERCISES:
        assert f"### Exercise {e.key}:" in text and flat(e.solution_text()) in flat(text)
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^solutions: ", makefile, re.M) and "coupling_lab.exercises" in makefile
