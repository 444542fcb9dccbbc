import importlib.util
import pathlib

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("groupvit_demo", REPO / "demo" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path, height, width, seed, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)


def _argv(inputs, output, *extra):
    return (["--config-file", str(REPO / "configs" / "groupvit" / "tiny.yaml"), "--input", *map(str, inputs),
             "--output", str(output), *extra,
             "--opts", "MODEL.DEVICE", "cpu", "MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES", "identity"])


def test_writes_overlay_and_group_pictures_per_image(demo, tmp_path, capsys):
    _write(tmp_path / "in" / "street.jpg", 30, 50, 0)
    (tmp_path / "in" / "notes.txt").write_text("not an image: skipped")
    _write(tmp_path / "more" / "b" / "street.png", 41, 23, 2, mode="L")
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("# classes\ncar, cars\n\nroad\ntree,trees\n")

    written = demo.main(_argv([tmp_path / "in", tmp_path / "more" / "*" / "*.png"], tmp_path / "out",
                              "--vocabulary-file", str(vocabulary), "--background"))

    out = tmp_path / "out"
    # The second street.* gets its own stem rather than overwriting the first one's pictures.
    expected = {f"{stem}_{kind}.png": size
                for stem, size in (("street", (50, 30)), ("street_1", (23, 41)))
                for kind in ("seg", "groups_stage1", "groups_stage2")}
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    assert sorted(map(str, written)) == sorted(str(out / f) for f in expected)
    for file, size in expected.items():
        with Image.open(out / file) as im:
            assert im.format == "PNG" and im.size == size, file
    assert f"Wrote 6 pictures for 2 image(s) to {out}" in capsys.readouterr().out


def test_read_vocabulary(demo, tmp_path):
    parser = demo.get_parser()
    base = ["--config-file", "x.yaml", "--input", "a.jpg", "--output", "o"]
    args = parser.parse_args(base + ["--vocabulary", "person; dog, puppy;grass "])
    assert demo.read_vocabulary(args) == [["person"], ["dog", "puppy"], ["grass"]]
    args = parser.parse_args(base + ["--vocabulary", "person, dog,grass "])
    with pytest.warns(FutureWarning, match="--vocabulary: .* comma-only form"):
        assert demo.read_vocabulary(args) == [["person"], ["dog"], ["grass"]]
    args = parser.parse_args(base + ["--vocabulary", "person;; dog"])
    with pytest.raises(ValueError, match="--vocabulary: class 2 .* is empty"):
        demo.read_vocabulary(args)
    file = tmp_path / "v.txt"
    file.write_text("car, cars\n# a comment\n\n  sky  \n")
    args = parser.parse_args(base + ["--vocabulary-file", str(file)])
    assert demo.read_vocabulary(args) == [["car", "cars"], ["sky"]]
    file.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match=f"{file} names no class"):
        demo.read_vocabulary(args)
    with pytest.raises(SystemExit):  # one of the two vocabulary options is required
        parser.parse_args(base)


def test_missing_input_is_a_clear_error(demo, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        demo.find_images([str(tmp_path / "nothing_here" / "*.jpg")])
