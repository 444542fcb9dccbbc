import pytest

from groupvit_d2.utils.results_page import section_markers, write_section


def test_sections_are_appended_then_replaced_in_place(tmp_path):
    page = tmp_path / "docs" / "RESULTS.md"
    write_section(str(page), "speed", "one")
    write_section(str(page), "ablations", "two")
    page.write_text(page.read_text() + "\nhand-written tail\n")
    write_section(str(page), "speed", "three")
    text = page.read_text()
    begin, end = section_markers("speed")
    assert text.startswith("# Results\n")
    assert text.count(begin) == 1 and "one" not in text
    # The replaced section stays where it was, before the other section and the tail.
    assert text.index("three") < text.index("two") < text.index("hand-written tail")
    assert text[text.index(begin):text.index(end)].strip().endswith("three")


def test_unbalanced_markers_are_refused(tmp_path):
    page = tmp_path / "RESULTS.md"
    begin, _ = section_markers("speed")
    page.write_text(f"# Results\n{begin}\nno end\n")
    with pytest.raises(ValueError, match="speed"):
        write_section(str(page), "speed", "x")
