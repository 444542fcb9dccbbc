"""tools/build_label_vocabulary.py: caption noun counts -> the LABEL_VOCABULARY file."""
import importlib.util
import io
import json
import os
import tarfile

import pytest

from groupvit_d2.data.text import NounExtractor, load_vocabulary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CAPTIONS = ["A dog on the grass.", "Two dogs and a dog near a red ball.", "A dog with a ball.", "A cat."]


class DictTagger:
    name = "dict"
    TABLE = {"dog": "NN", "dogs": "NNS", "grass": "NN", "ball": "NN", "cat": "NN", "red": "JJ"}

    def __call__(self, tokens):
        return [(t, self.TABLE.get(t.lower(), "DT")) for t in tokens]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("build_label_vocabulary",
                                                  os.path.join(ROOT, "tools", "build_label_vocabulary.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dict_extractor(tool, monkeypatch):
    """The extractor the tool builds, with a fixed tag table; records what the tool asked for."""
    extractor = NounExtractor(DictTagger())
    extractor.requests = []
    monkeypatch.setattr(tool, "build_noun_extractor", lambda *a: extractor.requests.append(a) or extractor)
    return extractor


def _coco_json(path, captions):
    anns = [{"id": i, "image_id": i // 2, "caption": c} for i, c in enumerate(captions)]
    path.write_text(json.dumps({"images": [], "annotations": anns}))
    return str(path)


def test_counts_and_selection(tool, dict_extractor):
    counts = tool.count_labels(CAPTIONS, dict_extractor)
    assert counts == {"dog": 3, "dogs": 1, "grass": 1, "ball": 2, "cat": 1}
    assert tool.select_labels(counts, min_count=2) == [("dog", 3), ("ball", 2)]
    # Ties are alphabetical; top-k cuts after sorting.
    assert tool.select_labels(counts, top_k=4) == [("dog", 3), ("ball", 2), ("cat", 1), ("dogs", 1)]
    phrases = tool.count_labels(CAPTIONS, dict_extractor, source="noun_phrases")
    assert phrases["red ball"] == 1 and phrases["ball"] == 1


def test_coco_json_to_a_file_that_label_vocabulary_reads(tool, dict_extractor, tmp_path, capsys):
    out = tmp_path / "vocab" / "nouns.txt"
    labels = tool.main(["--coco-captions", _coco_json(tmp_path / "captions.json", CAPTIONS),
                        "--min-count", "2", "--output", str(out)])
    assert labels == [("dog", 3), ("ball", 2)]
    assert load_vocabulary(str(out)) == frozenset({"dog", "ball"})
    text = out.read_text()
    assert text.startswith("# 2 of 5 distinct nouns of ") and "dog  # 3\n" in text
    assert "Wrote 2 of 5 nouns" in capsys.readouterr().out
    # The training labels' extractor settings: kind, WordNet folder, noun tags.
    assert dict_extractor.requests == [("auto", "", ("NN", "NNS", "NNP", "NNPS"))]
    tool.main(["--coco-captions", _coco_json(tmp_path / "c.json", CAPTIONS), "--extractor", "wordnet",
               "--wordnet-dir", "/wn", "--noun-tags", "NN", "-o", str(out)])
    assert dict_extractor.requests[-1] == ("wordnet", "/wn", ("NN",))


def test_webdataset_shards_with_txt_and_json_captions(tool, dict_extractor, tmp_path):
    path = tmp_path / "shard-000000.tar"
    with tarfile.open(path, "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("000.jpg", b"not an image: never read")
        add("000.txt", CAPTIONS[0].encode())
        add("001.json", json.dumps({"captions": CAPTIONS[1:3]}).encode())
        add("002.json", json.dumps({"caption": CAPTIONS[3]}).encode())
    pattern = str(tmp_path / "shard-{000000..000000}.tar")
    assert list(tool.shard_captions([pattern])) == CAPTIONS
    labels = tool.main(["--shards", pattern, "--top-k", "1", "-o", str(tmp_path / "top1.txt")])
    assert labels == [("dog", 3)]


def test_bad_inputs_are_named(tool, dict_extractor, tmp_path):
    bad = tmp_path / "instances.json"
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="instances.json: not a COCO captions file"):
        tool.main(["--coco-captions", str(bad), "-o", str(tmp_path / "v.txt")])
    with pytest.raises(SystemExit, match="seen at least 9 times"):
        tool.main(["--coco-captions", _coco_json(tmp_path / "c.json", CAPTIONS), "--min-count", "9",
                   "-o", str(tmp_path / "v.txt")])
    assert not (tmp_path / "v.txt").exists()

