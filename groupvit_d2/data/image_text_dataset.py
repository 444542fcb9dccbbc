"""Image-text pairs streamed from webdataset tar shards (CC3M, CC12M, YFCC, RedCaps layouts).

A sample is the files of a shard that share a key: an image (.jpg, .jpeg, .png or .webp) and a
caption (.txt, or .json with "caption", "text" or a "captions" list). Samples that cannot be used
are skipped and counted by reason; non-RGB images are converted and counted by their mode. The
counts of every DataLoader worker live in shared memory (`ImageTextWebDataset.skipped`,
`.converted`), and each worker logs its own counts every `log_period` samples. During training,
SkippedSamplesHook puts the totals into Detectron2's event storage and summarises them at the end.
"""

import glob
import io
import json
import logging
import os
import random
import warnings

import torch
import webdataset as wds
from detectron2.config import configurable
from detectron2.utils import comm
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

__all__ = ["ImageTextWebDataset", "SampleCounter", "expand_shards", "IMAGE_EXTENSIONS"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
JSON_CAPTION_KEYS = ("caption", "text", "captions")
# A stream that yields nothing usable for this many consecutive samples or shard read errors is
# broken (every shard unreadable, wrong extensions): fail loudly instead of spinning forever.
MAX_CONSECUTIVE_FAILURES = 10000


class SampleCounter:
    """Per-reason counts of skipped samples and per-mode counts of images converted to RGB.

    The table lives in shared memory, one row per process (row 0: the main process, row w + 1:
    DataLoader worker w), so that workers started by fork or spawn all write where the main process
    reads, without locks.
    """

    SKIP_REASONS = (
        "read_error",
        "missing_image",
        "corrupt_image",
        "missing_caption",
        "bad_caption",
        "empty_caption",
        "mapper",
    )
    CONVERTED_MODES = (
        "1",
        "L",
        "LA",
        "P",
        "PA",
        "CMYK",
        "RGBA",
        "RGBX",
        "YCbCr",
        "LAB",
        "HSV",
        "I",
        "I;16",
        "F",
        "other",
    )

    def __init__(self, max_workers=256):
        self._columns = (
            ("seen",) + self.SKIP_REASONS + tuple("converted:" + m for m in self.CONVERTED_MODES)
        )
        self._index = {c: i for i, c in enumerate(self._columns)}
        self._table = torch.zeros(
            max_workers + 1, len(self._columns), dtype=torch.int64
        ).share_memory_()

    def _row(self):
        info = get_worker_info()
        row = 0 if info is None else info.id + 1
        if row >= self._table.shape[0]:
            raise RuntimeError(
                f"SampleCounter holds {self._table.shape[0] - 1} worker rows; worker {row - 1} has none"
            )
        return row

    def add(self, column, n=1):
        self._table[self._row(), self._index[column]] += n

    def skip(self, reason):
        self.add(reason)

    def convert(self, mode):
        self.add("converted:" + (mode if mode in self.CONVERTED_MODES else "other"))

    def local(self):
        """{column: count} of the calling process only."""
        return dict(zip(self._columns, self._table[self._row()].tolist()))

    def totals(self):
        """{column: count} summed over all processes."""
        return dict(zip(self._columns, self._table.sum(0).tolist()))

    @property
    def seen(self):
        return int(self._table[:, 0].sum())

    @property
    def skipped(self):
        totals = self.totals()
        return {r: totals[r] for r in self.SKIP_REASONS}

    @property
    def converted(self):
        totals = self.totals()
        return {m: totals["converted:" + m] for m in self.CONVERTED_MODES}


def expand_shards(pattern):
    """The shard list of one corpus pattern.

    Braces expand ("cc12m-{000000..001242}.tar"), then glob wildcards; "~" and $VARS are
    substituted. URLs (anything with "://" or "pipe:") are kept as they are. Missing local files
    are dropped with a warning (the official loader drops them too); none left is an error.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError(
            f"DATASETS.IMAGE_TEXT.SHARDS entries must be non-empty strings, got {pattern!r}"
        )
    if "://" in pattern or pattern.startswith("pipe:"):
        return wds.shardlists.expand_urls(pattern)
    urls = []
    for url in wds.shardlists.expand_urls(os.path.expanduser(os.path.expandvars(pattern))):
        urls.extend(sorted(glob.glob(url)) if glob.has_magic(url) else [url])
    existing = [u for u in urls if os.path.isfile(u)]
    if not existing:
        raise FileNotFoundError(
            f"DATASETS.IMAGE_TEXT.SHARDS: no webdataset shard matches {pattern!r} "
            f"(expanded to {len(urls)} path(s), e.g. {urls[0] if urls else pattern!r})"
        )
    if len(existing) < len(urls):
        logger.warning(
            "Shard pattern %r: %d of %d shards are missing and left out, e.g. %s",
            pattern,
            len(urls) - len(existing),
            len(urls),
            sorted(set(urls) - set(existing))[0],
        )
    return existing


def _mix_seed(*parts):
    return hash(tuple(parts)) & 0x7FFFFFFF


def _mix(streams, weights, rng):
    # wds.RandomMix draws from the global `random`, which would make the mix depend on whatever
    # else used it; a seeded rng keeps a worker's stream reproducible.
    while True:
        i = rng.choices(range(len(streams)), weights=weights)[0]
        try:
            yield next(streams[i])
        except StopIteration:
            return


class ImageTextWebDataset(IterableDataset):
    """
    An IterableDataset of image-text pairs from webdataset shards.

    Yields dicts {"image": PIL.Image (RGB), "caption": str, "key": str, "url": str}, or what
    `mapper` makes of them (a mapper result of None skips the sample).

    Splitting: every process (rank) and DataLoader worker reads its own stream.
    - resampled=True (training): shards are drawn with replacement, from each corpus in the ratio of
      `weights`, so a stream never runs dry; an epoch is `epoch_length` samples over all processes,
      `epoch_length // world_size` for each rank, split exactly over its workers.
    - resampled=False: the shards (all corpora) are split over ranks, then workers, and each pass
      reads every sample once; `epoch_length` is not used.
    `shuffle_buffer` > 1 shuffles samples in a buffer of that size (and the shard order when not
    resampling). With `infinite`, iteration runs epoch after epoch (what a Detectron2 trainer, which
    counts iterations, expects); otherwise it ends after one epoch or pass.
    """

    @configurable
    def __init__(
        self,
        shards,
        *,
        weights=None,
        shuffle_buffer=1000,
        epoch_length=10000,
        resampled=True,
        infinite=False,
        seed=None,
        mapper=None,
        rank=None,
        world_size=None,
        log_period=10000,
        max_workers=256,
    ):
        """
        Args:
            shards (list[str] or str): one shard pattern per corpus (see `expand_shards`).
            weights (list[float] or None): sampling ratio of the corpora (default: equal).
            shuffle_buffer (int): sample shuffle buffer size; 0 or 1 keeps the stored order.
            epoch_length (int): samples per epoch over all processes (resampled mode).
            resampled (bool): draw shards with replacement.
            infinite (bool): iterate over epochs without end.
            seed (int or None): base seed of shard draws, mixing and shuffling; None draws one.
            mapper (callable or None): applied to each sample in the worker.
            rank, world_size (int or None): this process's place; default from detectron2.utils.comm.
            log_period (int): each worker logs its counts every `log_period` samples read.
            max_workers (int): DataLoader workers the shared counters have room for.
        """
        super().__init__()
        if isinstance(shards, str):
            shards = [shards]
        if not shards:
            raise ValueError("DATASETS.IMAGE_TEXT.SHARDS is empty; give at least one shard pattern")
        self.corpora = [expand_shards(p) for p in shards]
        if weights is None or len(weights) == 0:
            weights = [1.0] * len(self.corpora)
        if len(weights) != len(self.corpora) or any(float(w) <= 0 for w in weights):
            raise ValueError(
                f"DATASETS.IMAGE_TEXT.WEIGHTS={list(weights)}: expected {len(self.corpora)} positive "
                "weights, one per SHARDS entry (or none for equal weights)"
            )
        self.weights = [float(w) for w in weights]
        self.shuffle_buffer = int(shuffle_buffer)
        self.resampled = bool(resampled)
        self.infinite = bool(infinite)
        self.rank = comm.get_rank() if rank is None else int(rank)
        self.world_size = comm.get_world_size() if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is outside world size {self.world_size}")
        if self.resampled and epoch_length < self.world_size:
            raise ValueError(
                f"DATASETS.IMAGE_TEXT.EPOCH_LENGTH={epoch_length} gives no sample to some of the "
                f"{self.world_size} processes"
            )
        self.epoch_length = int(epoch_length)
        self.seed = int.from_bytes(os.urandom(4), "little") if seed is None else int(seed)
        self.mapper = mapper
        self.log_period = max(1, int(log_period))
        self.counter = SampleCounter(max_workers)
        self.epoch = 0
        # Batches (of _batch_size samples) a resumed run has already taken from this stream.
        self._start_batches = 0
        self._batch_size = 1
        # Per-process state (each DataLoader worker has its own copy).
        self._failures = 0
        self._read_count = 0
        self._warned = set()

    @classmethod
    def from_config(cls, cfg, mapper=None, infinite=True):
        d = cfg.DATASETS.IMAGE_TEXT
        return {
            "shards": list(d.SHARDS),
            "weights": list(d.WEIGHTS) or None,
            "shuffle_buffer": d.SHUFFLE_BUFFER,
            "epoch_length": d.EPOCH_LENGTH,
            "resampled": d.RESAMPLE,
            "infinite": infinite,
            "seed": cfg.SEED if cfg.SEED >= 0 else None,
            "mapper": mapper,
            "log_period": d.LOG_PERIOD,
        }

    @property
    def skipped(self):
        """{reason: count} of skipped samples, over all workers."""
        return self.counter.skipped

    @property
    def converted(self):
        """{Pillow mode: count} of images converted to RGB, over all workers."""
        return self.counter.converted

    @property
    def samples_per_rank(self):
        return self.epoch_length // self.world_size

    def samples_per_worker(self, worker_id, num_workers):
        """The share of worker `worker_id` of `num_workers` in one resampled epoch of this rank."""
        base, extra = divmod(self.samples_per_rank, num_workers)
        return base + (1 if worker_id < extra else 0)

    def set_epoch(self, epoch):
        """Start the next iteration at `epoch` (it changes the shard draws and the shuffling)."""
        self.epoch = int(epoch)

    def start_after(self, iterations, batch_size):
        """Continue, at the next iteration, after `iterations` batches of `batch_size` samples per
        process were taken (what `--resume` needs): the same samples, in the same order, as the
        uninterrupted run would read next.

        The stream is a function of (seed, epoch, rank, worker, position), so whole resampled epochs
        are skipped without reading; inside an epoch the skipped samples are read but not decoded
        (their caption is parsed and their image header checked, to step over unusable samples as
        the training did). An image whose header is fine but whose data is corrupt is counted as
        taken there, so in that rare case the resumed stream is off by one.
        Call it before the DataLoader is iterated.
        """
        self._start_batches, self._batch_size = int(iterations), max(1, int(batch_size))

    def _start_position(self, worker_id, num_workers):
        """(logical worker id, samples to skip): DataLoader asks its workers for batches in turn from
        worker 0, so after B batches the uninterrupted run would ask worker B % W next; worker w of
        the resumed run plays worker (w + B) % W."""
        b = self._start_batches
        logical = (worker_id + b) % num_workers
        taken = b // num_workers + (1 if logical < b % num_workers else 0)
        return logical, taken * self._batch_size

    def shards_for(self, epoch, worker_id, num_workers):
        """The shards one worker reads in one pass (resampled=False)."""
        urls = [u for corpus in self.corpora for u in corpus]
        if self.shuffle_buffer > 1:
            # The same permutation in every process, so that the split below is a partition.
            random.Random(_mix_seed(self.seed, epoch)).shuffle(urls)
        return urls[self.rank :: self.world_size][worker_id::num_workers]

    def __iter__(self):
        info = get_worker_info()
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if self.infinite:
            # An endless stream that can yield nothing would spin without a word.
            if self.resampled and self.samples_per_worker(worker_id, num_workers) == 0:
                raise ValueError(
                    f"DATASETS.IMAGE_TEXT.EPOCH_LENGTH={self.epoch_length} leaves DataLoader worker {worker_id} "
                    f"of {num_workers} (rank {self.rank} of {self.world_size}) without samples"
                )
            if not self.resampled and not self.shards_for(self.epoch, worker_id, num_workers):
                raise ValueError(
                    f"DATASETS.IMAGE_TEXT.SHARDS has {sum(map(len, self.corpora))} shards, fewer than the "
                    f"{self.world_size} processes x {num_workers} workers reading them without resampling; "
                    "set DATASETS.IMAGE_TEXT.RESAMPLE True or use fewer workers"
                )
        epoch = self.epoch
        worker_id, skip = self._start_position(worker_id, num_workers)
        if self.resampled and skip:
            per_epoch = self.samples_per_worker(worker_id, num_workers)
            epoch, skip = epoch + skip // per_epoch, skip % per_epoch
        skip = [skip]
        while True:
            yield from self._epoch_samples(epoch, worker_id, num_workers, skip)
            if not self.infinite:
                return
            epoch += 1

    def _epoch_samples(self, epoch, worker_id, num_workers, skip=(0,)):
        rng = random.Random(_mix_seed(self.seed, epoch, self.rank, worker_id))
        if self.resampled:
            limit = self.samples_per_worker(worker_id, num_workers)
            streams = [
                iter(
                    self._read(
                        wds.ResampledShards(
                            urls,
                            seed=_mix_seed(self.seed, epoch, self.rank, worker_id, i),
                            worker_seed=lambda: 0,
                            deterministic=True,
                        )
                    )
                )
                for i, urls in enumerate(self.corpora)
            ]
            raw = streams[0] if len(streams) == 1 else _mix(streams, self.weights, rng)
        else:
            limit = None
            urls = self.shards_for(epoch, worker_id, num_workers)
            if not urls:
                logger.warning(
                    "Rank %d worker %d has no shard to read: %d shards for %d processes x %d workers",
                    self.rank,
                    worker_id,
                    sum(map(len, self.corpora)),
                    self.world_size,
                    num_workers,
                )
                return
            raw = self._read({"url": u} for u in urls)
        if self.shuffle_buffer > 1:
            raw = wds.shuffle(self.shuffle_buffer, rng=rng)(raw)

        if limit == 0:
            return
        produced = 0
        for sample in raw:
            if skip[0] > 0:
                if self._usable(sample, rng):
                    skip[0] -= 1
                    produced += 1
                    if limit is not None and produced >= limit:
                        return
                continue
            self.counter.add("seen")
            self._read_count += 1
            out = self._decode(sample, rng)
            if out is not None and self.mapper is not None:
                out = self.mapper(out)
                if out is None:
                    self._skip("mapper", sample, "the mapper returned None")
            if self._read_count % self.log_period == 0:
                self._log_counts()
            if out is None:
                self._count_failure()
                continue
            self._failures = 0
            produced += 1
            yield out
            if limit is not None and produced >= limit:
                return

    def _usable(self, sample, rng):
        """What _decode would decide, without decoding the image (and drawing from `rng` alike)."""
        caption, _, _ = self._caption(sample, rng)
        ext = next((e for e in IMAGE_EXTENSIONS if e in sample), None)
        if caption is None or ext is None:
            return False
        try:
            Image.open(io.BytesIO(sample[ext]))
        except Exception:  # noqa: BLE001
            return False
        return True

    def _read(self, urls):
        return wds.tarfile_samples(urls, handler=self._on_read_error)

    def _on_read_error(self, exn):
        self.counter.skip("read_error")
        self._warn_once("read_error", f"cannot read a shard: {exn!r}")
        self._count_failure()
        return True

    def _count_failure(self):
        self._failures += 1
        if self._failures >= MAX_CONSECUTIVE_FAILURES:
            raise RuntimeError(
                f"{self._failures} consecutive samples of DATASETS.IMAGE_TEXT.SHARDS were unusable "
                f"(counts so far: {self.counter.local()}); check the shards and their file extensions "
                f"(images: {IMAGE_EXTENSIONS}, captions: txt/json)"
            )

    def _warn_once(self, reason, message):
        if reason not in self._warned:
            self._warned.add(reason)
            logger.warning(
                "Image-text data: %s. Further cases are counted: in metrics.json and TensorBoard as "
                "data/skipped/<reason> at every log period, in a summary when training ends, and in "
                "this log every %d samples per worker.",
                message,
                self.log_period,
            )

    def _skip(self, reason, sample, detail):
        self.counter.skip(reason)
        self._warn_once(
            reason,
            f"skipped sample {sample.get('__key__')!r} of {sample.get('__url__')!r}: {detail}",
        )
        return None

    def _log_counts(self):
        counts = self.counter.local()
        skipped = {r: counts[r] for r in SampleCounter.SKIP_REASONS if counts[r]}
        converted = {
            m: counts["converted:" + m]
            for m in SampleCounter.CONVERTED_MODES
            if counts["converted:" + m]
        }
        info = get_worker_info()
        logger.info(
            "Image-text data, rank %d worker %s: %d samples read, skipped %s, converted to RGB %s",
            self.rank,
            info.id if info else "main",
            counts["seen"],
            skipped or "none",
            converted or "none",
        )

    def _caption(self, sample, rng):
        """(caption, None) or (None, skip reason, detail)."""
        if "txt" in sample:
            text = sample["txt"]
            text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
        elif "json" in sample:
            try:
                obj = json.loads(sample["json"])
            except (ValueError, UnicodeDecodeError) as e:
                return None, "bad_caption", f"invalid json ({e})"
            text = None
            if isinstance(obj, dict):
                for key in JSON_CAPTION_KEYS:
                    value = obj.get(key)
                    if isinstance(value, list):
                        value = [v for v in value if isinstance(v, str) and v.strip()]
                        value = rng.choice(value) if value else ""
                    if isinstance(value, str):
                        text = value
                        break
            if text is None:
                return None, "missing_caption", f"the json has none of the keys {JSON_CAPTION_KEYS}"
        else:
            return None, "missing_caption", "no .txt or .json file"
        text = text.strip()
        if not text:
            return None, "empty_caption", "the caption is empty"
        return text, None, None

    def _decode(self, sample, rng):
        caption, reason, detail = self._caption(sample, rng)
        if caption is None:
            return self._skip(reason, sample, detail)
        ext = next((e for e in IMAGE_EXTENSIONS if e in sample), None)
        if ext is None:
            return self._skip("missing_image", sample, f"no file with extension {IMAGE_EXTENSIONS}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(sample[ext]))
                image.load()
                mode = image.mode
                if mode != "RGB":
                    image = image.convert("RGB")
        # Shards are untrusted bytes: Pillow raises OSError, SyntaxError, ValueError, struct.error,
        # DecompressionBombError... on broken or hostile files; any of them skips the sample.
        except Exception as e:  # noqa: BLE001
            return self._skip(
                "corrupt_image", sample, f"cannot decode .{ext} ({type(e).__name__}: {e})"
            )
        if mode != "RGB":
            self.counter.convert(mode)
        return {
            "image": image,
            "caption": caption,
            "key": sample.get("__key__", ""),
            "url": sample.get("__url__", ""),
        }
