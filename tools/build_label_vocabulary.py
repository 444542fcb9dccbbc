#!/usr/bin/env python
"""Build a curated label vocabulary (INPUT.IMAGE_TEXT.LABEL_VOCABULARY) from caption noun counts.

The thesis (sec. 5.7.1) counted the nouns of the COCO training captions (27,089 distinct) and kept
those seen at least 1000 times (383 nouns) or 5000 times (88 nouns). This tool does the same for a
COCO captions json or webdataset shards, with the noun extractor of the training labels
(INPUT.IMAGE_TEXT.NOUN_EXTRACTOR), and writes one label a line with its count as a comment:

  python tools/build_label_vocabulary.py --coco-captions datasets/coco/annotations/captions_train2017.json \
      --min-count 1000 --output datasets/coco/nouns_min1000.txt
  python tools/build_label_vocabulary.py --shards 'cc3m/cc3m-{000000..000331}.tar' --top-k 500 \
      --output cc3m_top500.txt

Then train with INPUT.IMAGE_TEXT.LABEL_VOCABULARY pointing at the file.
"""
import argparse
import collections
import json
import logging
import os
import sys

import webdataset as wds

from groupvit_d2.data.image_text_dataset import JSON_CAPTION_KEYS, expand_shards
from groupvit_d2.data.text import NOUN_TAGS, build_noun_extractor

logger = logging.getLogger("groupvit_d2.build_label_vocabulary")

SOURCES = ("nouns", "noun_phrases")


def coco_captions(json_file):
    """Every caption of a COCO captions json (its "annotations" list)."""
    with open(json_file, encoding="utf-8") as f:
        data = json.load(f)
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, list):
        raise ValueError(f"{json_file}: not a COCO captions file (expected a top-level \"annotations\" list)")
    for a in annotations:
        caption = a.get("caption") if isinstance(a, dict) else None
        if isinstance(caption, str) and caption.strip():
            yield caption


def _sample_captions(sample):
    if "txt" in sample:
        yield sample["txt"].decode("utf-8", errors="replace")
    elif "json" in sample:
        try:
            obj = json.loads(sample["json"])
        except (ValueError, UnicodeDecodeError):
            logger.warning("%s: invalid json, skipped", sample.get("__key__"))
            return
        for key in JSON_CAPTION_KEYS if isinstance(obj, dict) else ():
            value = obj.get(key)
            # Every caption of a sample counts, as every COCO caption does.
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str):
                    yield text
            if value is not None:
                break


def shard_captions(patterns):
    """Every caption (.txt, or .json "caption"/"text"/"captions") of webdataset shards; images are
    not read."""
    for pattern in patterns:
        urls = [{"url": u} for u in expand_shards(pattern)]
        keep = lambda name: name.endswith((".txt", ".json"))  # noqa: E731
        for sample in wds.tarfile_samples(urls, select_files=keep):
            for caption in _sample_captions(sample):
                if caption.strip():
                    yield caption


def count_labels(captions, extractor, source="nouns"):
    """Counter of lower-cased nouns (or noun phrases) over `captions`, every occurrence counted."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    counts = collections.Counter()
    for caption in captions:
        words = extractor.nouns(caption) if source == "nouns" else extractor.noun_phrases(caption)
        counts.update(" ".join(w.lower().split()) for w in words)
    counts.pop("", None)
    return counts


def select_labels(counts, min_count=1, top_k=0):
    """(label, count) pairs with count >= min_count, most frequent first (ties alphabetical),
    cut to the first `top_k` when top_k > 0."""
    kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    return kept[:top_k] if top_k > 0 else kept


def write_vocabulary(path, labels, header=()):
    """One label a line, its count after '#' (which load_vocabulary ignores)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for line in header:
            f.write(f"# {line}\n")
        for label, count in labels:
            f.write(f"{label}  # {count}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--coco-captions", help="a COCO captions json (e.g. captions_train2017.json)")
    src.add_argument("--shards", nargs="+", help="webdataset shard patterns (braces and globs allowed)")
    parser.add_argument("--output", "-o", required=True, help="vocabulary file to write")
    parser.add_argument("--min-count", type=int, default=1, help="keep labels seen at least this often")
    parser.add_argument("--top-k", type=int, default=0, help="keep only the K most frequent (0: no limit)")
    parser.add_argument("--source", choices=SOURCES, default="nouns")
    parser.add_argument("--extractor", default="auto", help="auto, nltk or wordnet (INPUT.IMAGE_TEXT.NOUN_EXTRACTOR)")
    parser.add_argument("--wordnet-dir", default="", help="WordNet dict folder (INPUT.IMAGE_TEXT.WORDNET_DIR)")
    parser.add_argument("--noun-tags", nargs="+", default=list(NOUN_TAGS))
    args = parser.parse_args(argv)
    if args.min_count < 1 or args.top_k < 0:
        parser.error(f"--min-count must be >= 1 and --top-k >= 0, got {args.min_count} and {args.top_k}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    extractor = build_noun_extractor(args.extractor, args.wordnet_dir, tuple(args.noun_tags))
    captions = coco_captions(args.coco_captions) if args.coco_captions else shard_captions(args.shards)
    counts = count_labels(captions, extractor, args.source)
    labels = select_labels(counts, args.min_count, args.top_k)
    if not labels:
        raise SystemExit(f"No {args.source} seen at least {args.min_count} times; nothing written")
    source = args.coco_captions or " ".join(args.shards)
    write_vocabulary(args.output, labels, header=[
        f"{len(labels)} of {len(counts)} distinct {args.source} of {source}",
        f"min count {args.min_count}, top k {args.top_k or 'all'}, tagger {extractor.name}",
    ])
    print(f"Wrote {len(labels)} of {len(counts)} {args.source} to {args.output}")
    return labels


if __name__ == "__main__":
    main(sys.argv[1:])
