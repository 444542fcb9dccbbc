"""Sections of a markdown results page that scripts regenerate in place."""
import os

__all__ = ["section_markers", "write_section"]


def section_markers(name):
    """The HTML comments that delimit section `name` of a page."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(page, name, text):
    """Replace section `name` of the markdown file `page` with `text`, or append it; the rest of
    the page is kept. The page is created when missing."""
    begin, end = section_markers(name)
    current = open(page).read() if os.path.isfile(page) else "# Results\n"
    if current.count(begin) != current.count(end) or current.count(begin) > 1:
        raise ValueError(f"{page}: the markers of section {name!r} are unbalanced or repeated")
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in current:
        current = current[: current.index(begin)] + block + current[current.index(end) + len(end):]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(page)), exist_ok=True)
    with open(page, "w") as f:
        f.write(current)
