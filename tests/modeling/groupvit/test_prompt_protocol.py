"""TEST.PROMPT_PROTOCOL: which of a dataset's class names the text side is prompted with."""
import pytest
import torch
from detectron2.data import MetadataCatalog
from detectron2.modeling import build_model

from groupvit_d2.modeling.core import class_names_from_metadata

# The names that differ between the official GroupViT evaluation and the TCL protocol.
OFFICIAL_ONLY = {"table", "plant", "monitor", "airplane"}
TCL_ONLY = {"diningtable", "pottedplant", "tvmonitor", "aeroplane"}


def _flat(names):
    return {n for synonyms in names for n in synonyms}


@pytest.mark.parametrize("dataset", ["voc21_val", "voc20_val", "context60_val", "context59_val"])
def test_voc_and_context_prompt_by_protocol(dataset):
    meta = MetadataCatalog.get(dataset)
    official, _, threshold = class_names_from_metadata(meta, "official")
    tcl, _, tcl_threshold = class_names_from_metadata(meta, "tcl")
    assert class_names_from_metadata(meta) == (official, _, threshold)  # official is the default
    assert len(official) == len(tcl) and threshold == tcl_threshold
    assert not _flat(official) & {"diningtable", "pottedplant", "tvmonitor"}
    assert {"plant", "monitor"} <= _flat(official) and {"pottedplant", "tvmonitor", "aeroplane"} <= _flat(tcl)
    changed = {(a[0], b[0]) for a, b in zip(official, tcl) if a != b}
    assert {a for a, _ in changed} <= OFFICIAL_ONLY and {b for _, b in changed} <= TCL_ONLY
    if dataset.startswith("voc"):
        assert changed == {("table", "diningtable"), ("plant", "pottedplant"), ("monitor", "tvmonitor")}
    else:  # mmsegmentation's Context keeps "table"
        assert changed == {("airplane", "aeroplane"), ("plant", "pottedplant"), ("monitor", "tvmonitor")}
    # What results are reported under does not change.
    assert "plant" in meta.stuff_classes and "pottedplant" not in meta.stuff_classes


@pytest.mark.parametrize("dataset", ["coco_object_val", "coco_stuff171_val", "cityscapes_fine_val", "ade20k_150_val"])
def test_other_benchmarks_are_the_same_under_both_protocols(dataset):
    meta = MetadataCatalog.get(dataset)
    assert class_names_from_metadata(meta, "tcl") == class_names_from_metadata(meta, "official")


def test_unknown_protocol_is_refused(tiny_cfg):
    with pytest.raises(ValueError, match="PROMPT_PROTOCOL.*'mmseg'"):
        class_names_from_metadata(MetadataCatalog.get("voc20_val"), "mmseg")
    tiny_cfg.TEST.PROMPT_PROTOCOL = "mmseg"
    with pytest.raises(ValueError, match="PROMPT_PROTOCOL"):
        build_model(tiny_cfg)


def test_the_model_embeds_the_protocols_names(tiny_cfg):
    tiny_cfg.MODEL.GROUPVIT.ZERO_SHOT.TEMPLATES = "identity"
    torch.manual_seed(0)
    official = build_model(tiny_cfg).eval()
    tiny_cfg.TEST.PROMPT_PROTOCOL = "tcl"
    tcl = build_model(tiny_cfg).eval()
    tcl.load_state_dict(official.state_dict())
    meta = MetadataCatalog.get("voc20_val")
    with torch.no_grad():
        got, _ = tcl.class_embeddings("voc20_val")
        expected, _ = tcl.class_embeddings(class_names=meta.prompt_classes["tcl"])
        torch.testing.assert_close(got, expected)
        official_emb, _ = official.class_embeddings("voc20_val")
        torch.testing.assert_close(official_emb, tcl.class_embeddings(class_names=list(meta.stuff_classes))[0])
    table = list(meta.stuff_classes).index("table")
    assert not torch.allclose(got[table], official_emb[table])
    bicycle = list(meta.stuff_classes).index("bicycle")
    torch.testing.assert_close(got[bicycle], official_emb[bicycle])
