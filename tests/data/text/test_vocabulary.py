"""The `;`/`,` vocabulary syntax shared by the demos, the predictor and the config."""
import warnings

import pytest

from groupvit_d2.data.text import format_vocabulary, parse_vocabulary, parse_vocabulary_entries, read_vocabulary_file


def test_semicolons_separate_classes_and_commas_synonyms():
    text = "black pickup truck, pickup truck; blue sky, sky"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = parse_vocabulary(text)
    assert parsed == [["black pickup truck", "pickup truck"], ["blue sky", "sky"]]
    assert parse_vocabulary(format_vocabulary(parsed)) == parsed
    assert parse_vocabulary("  cat ;dog;  ") == [["cat"], ["dog"]]  # one trailing ';' is allowed
    assert parse_vocabulary("cat") == [["cat"]]


def test_comma_only_form_is_one_class_a_name_with_a_deprecation_warning():
    with pytest.warns(FutureWarning, match="comma-only form"):
        assert parse_vocabulary("person, dog,grass ") == [["person"], ["dog"], ["grass"]]


def test_several_lines_are_one_class_a_line():
    text = "# classes\ncar, cars\n\nroad; pavement, sidewalk\n  sky  \n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_vocabulary(text) == [["car", "cars"], ["road"], ["pavement", "sidewalk"], ["sky"]]


def test_file_keeps_the_one_class_a_line_form(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("# a comment\ncar, cars\n\n  sky  \ntree; bush\n")
    assert read_vocabulary_file(str(path)) == [["car", "cars"], ["sky"], ["tree"], ["bush"]]
    path.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match=f"{path} names no class"):
        read_vocabulary_file(str(path))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_vocabulary_file(str(tmp_path / "missing.txt"))
    path.write_bytes(b"\xff\xfe\x00c")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_vocabulary_file(str(path))


def test_list_entries():
    assert parse_vocabulary_entries(["ball", "car, cars", ["tree", "trees"], "sky; sea"]) == [
        ["ball"], ["car", "cars"], ["tree", "trees"], ["sky"], ["sea"]]


@pytest.mark.parametrize("text, message", [
    ("", "names no class"),
    ("  \n# only a comment\n", "names no class"),
    ("cat;; dog", "class 2 of 'cat;; dog' is empty"),
    ("cat, ; dog", "empty synonym in 'cat,'"),
    ("cat; dog, ,puppy", "empty synonym"),
    ("cat; dog; Cat", "'Cat' appears in classes 1 and 3"),
    ("cat, kitty, cat; dog", "'cat' appears twice in that class"),
    ("cat; background; dog", "class 2 is the lone word 'background'"),
    ("cat,,dog", "empty class name"),
])
def test_bad_vocabularies_name_the_problem(text, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(ValueError, match=message):
            parse_vocabulary(text, source="--vocabulary")


def test_bad_entries_name_the_source():
    with pytest.raises(ValueError, match="MY.KEY entry 1 is empty"):
        parse_vocabulary_entries(["cat", " "], source="MY.KEY")
    with pytest.raises(ValueError, match="MY.KEY entry 0 must be a string"):
        parse_vocabulary_entries([3], source="MY.KEY")
    with pytest.raises(ValueError, match="expected a list"):
        parse_vocabulary_entries("cat; dog", source="MY.KEY")


def test_background_placeholder_only_in_first_place():
    assert parse_vocabulary_entries(["background", "cat"], has_background=True) == [["background"], ["cat"]]
    with pytest.raises(ValueError, match="lone word 'background'"):
        parse_vocabulary_entries(["cat", "background"], has_background=True)
    # As a synonym next to other names it stands for a class people named that way.
    assert parse_vocabulary("wall, background; cat") == [["wall", "background"], ["cat"]]
