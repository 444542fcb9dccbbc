"""Every groupvit_d2 default, under MODEL.GROUPVIT, INPUT, DATASETS, SOLVER and TEST."""
import os

import torch
from detectron2.config import CfgNode as CN

# ImageNet statistics on the 0-255 scale, RGB order: what the official GroupViT code normalises
# with. Checkpoints converted from the Hugging Face port carry CLIP's instead.
IMAGENET_PIXEL_MEAN = [123.675, 116.28, 103.53]
IMAGENET_PIXEL_STD = [58.395, 57.12, 57.375]
CLIP_PIXEL_MEAN = [122.7709383, 116.7460125, 104.09373615]
CLIP_PIXEL_STD = [68.5005327, 66.6321579, 70.32316305]


def load_config(config_file=None, opts=(), freeze=True):
    """A Detectron2 config with groupvit_d2's defaults, then `config_file` (skipped when None), then
    the KEY VALUE pairs of `opts`; frozen unless `freeze` is False (a caller that still sets keys).

    Raises FileNotFoundError naming the file when `config_file` does not exist.
    """
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_groupvit_config(cfg)
    if config_file is not None:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file {config_file!r} does not exist; expected a YAML file such as "
                                    "configs/groupvit/tiny.yaml")
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    if freeze:
        cfg.freeze()
    return cfg


def add_groupvit_config(cfg):
    """Add the groupvit_d2 keys to a Detectron2 config (in place)."""
    _add_model_config(cfg)
    _add_text_config(cfg)
    _add_loss_config(cfg)
    _add_zero_shot_config(cfg)
    _add_input_config(cfg)
    _add_dataset_config(cfg)
    _add_solver_config(cfg)
    _add_alternative_models_config(cfg)
    _add_diagnostics_config(cfg)
    _add_failure_handling_config(cfg)


def _add_model_config(cfg):
    # Detectron2 defaults to "cuda"; a CPU-only machine should run without a flag.
    cfg.MODEL.DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
    cfg.MODEL.META_ARCHITECTURE = "GroupViT"
    cfg.MODEL.BACKBONE.NAME = "GroupViTImageEncoder"
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.PIXEL_MEAN = list(IMAGENET_PIXEL_MEAN)
    cfg.MODEL.PIXEL_STD = list(IMAGENET_PIXEL_STD)
    # What zero-shot inference runs its image encoder in: "fp32", "bf16" (autocast) or "auto" (bf16
    # only where the device has bf16 hardware: CUDA with bf16, a CPU with AVX512-BF16 or AMX-BF16;
    # elsewhere bf16 is slower than fp32). Training precision is SOLVER.AMP.
    cfg.MODEL.PRECISION = "fp32"

    cfg.MODEL.GROUPVIT = CN()
    g = cfg.MODEL.GROUPVIT
    # Image encoder (docs/DESIGN.md section 1). The training grid is IMAGE_SIZE / PATCH_SIZE.
    g.IMAGE_SIZE = 224
    g.PATCH_SIZE = 16
    g.EMBED_DIM = 384
    g.DEPTHS = [6, 3, 3]
    g.NUM_HEADS = [6, 6, 6]
    g.NUM_GROUP_TOKENS = [64, 8, 0]
    g.NUM_OUTPUT_GROUPS = [64, 8]
    g.MLP_RATIO = 4.0
    g.QKV_BIAS = True
    g.DROP_RATE = 0.0
    g.ATTN_DROP_RATE = 0.0
    g.DROP_PATH_RATE = 0.1
    # nn.LayerNorm's default: the official image encoder builds every LayerNorm with
    # `norm_layer = nn.LayerNorm` (NVlabs/GroupViT models/group_vit.py), as does HF's port.
    g.LAYER_NORM_EPS = 1e-5
    g.HARD_ASSIGNMENT = True
    # The official code ties Gumbel noise to hard assignment; here it is its own switch.
    g.GUMBEL = True
    g.GUMBEL_TAU = 1.0
    g.ASSIGN_EPS = 1.0
    # Std of the truncated-normal initialisation of the assignment's query and key projections.
    # The official 0.02 gives assignment logits of std about 0.02^2 x EMBED_DIM at the start:
    # 0.15 at width 384, 0.04 at 96, either way far below the Gumbel noise (std 1.28).
    g.ASSIGN_INIT_STD = 0.02
    # Eq. 5 adds each group token to the segments assigned to it (official). That token has
    # cross-attended to the whole image, so a group's embedding can name what it does not hold;
    # False keeps only the merged segments.
    g.GROUP_TOKEN_RESIDUAL = True
    # [start, end]: in training that term's weight falls linearly from 1 at iteration `start` to
    # 0 at `end`; the model is evaluated without it. [] keeps it at 1.
    g.GROUP_TOKEN_RESIDUAL_FADE = []
    # The image feature: "mean" of the final group tokens (official), "occupied", the mean of
    # those that hold at least one patch under the hard assignment, or "patches", the mean of the
    # first stage's patch tokens before any grouping (through the final LayerNorm), so that the
    # caption loss trains no group embedding.
    g.POOLING = "mean"
    # Trade compute for memory in the transformer blocks.
    g.GRADIENT_CHECKPOINTING = False
    # Dense maps the backbone returns to other Detectron2 heads: "stage1" (patch tokens after the
    # first stage's blocks) and/or "grouped" (final group tokens spread back onto the patch grid
    # through the soft assignments).
    g.OUT_FEATURES = ["grouped"]

    # Joint embedding space.
    g.PROJECTION_DIM = 256
    g.PROJECTION_INTERMEDIATE_DIM = 4096
    g.PROJECTION_NUM_LAYERS = 2
    g.CONTRAST_TEMPERATURE = 0.07
    g.MAX_LOGIT_SCALE = 100.0


def _add_text_config(cfg):
    cfg.MODEL.GROUPVIT.TEXT = CN()
    t = cfg.MODEL.GROUPVIT.TEXT
    t.CONTEXT_LENGTH = 77
    t.VOCAB_SIZE = 49408
    t.WIDTH = 256
    t.LAYERS = 12
    # 0 means width // 64, the CLIP rule.
    t.HEADS = 0
    t.LAYER_NORM_EPS = 1e-5


def _add_loss_config(cfg):
    cfg.MODEL.GROUPVIT.LOSS = CN()
    lo = cfg.MODEL.GROUPVIT.LOSS
    lo.CONTRASTIVE_WEIGHT = 1.0
    lo.MULTI_LABEL_WEIGHT = 1.0
    # "paper": eq. 7 as written (log of the summed positive probabilities for image->texts).
    # "official": the released code's soft-target cross-entropy (targets 1/K per positive).
    lo.MULTI_LABEL_FORM = "paper"
    # What a label is compared with: "image", the pooled image feature (the paper, the official
    # code), or "best_group", the image's best final group among those that hold a patch, the
    # group-class comparison that zero-shot inference makes (docs/DESIGN.md section 2).
    lo.MULTI_LABEL_MATCH = "image"
    # With "best_group": a label's negatives also include the other groups of its own image, so that
    # only the group that names it keeps it (the background's group included).
    lo.MULTI_LABEL_OWN_GROUP_NEGATIVES = False
    # The official code gives the multi-label loss its own learnable logit scale.
    lo.SHARE_TEMPERATURE = False
    # Thesis regularisers (sec. 4.5), each added with its own weight when > 0: group entropy GE
    # (loss_group_entropy), label entropy LE (loss_label_entropy) and segment-affinity entropy SE
    # (loss_segment_entropy = GROUP_WEIGHT x groups over labels + LABEL_WEIGHT x labels over groups).
    lo.GROUP_ENTROPY_WEIGHT = 0.0
    lo.LABEL_ENTROPY_WEIGHT = 0.0
    lo.SEGMENT_ENTROPY_WEIGHT = 0.0
    lo.SEGMENT_ENTROPY_GROUP_WEIGHT = 0.2
    lo.SEGMENT_ENTROPY_LABEL_WEIGHT = 0.1
    # The group-label affinity A_ST of LE and SE (thesis eq. 30): "scaled_cosine" (normalised
    # embeddings times the detached, clamped logit scale, as zero-shot inference compares groups
    # with classes) or "dot" (the plain product of the projected embeddings, as eq. 30 is written).
    lo.SEGMENT_AFFINITY = "scaled_cosine"
    # Thesis sec. 5.10: labels of other images in the local mini-batch with the same raw string
    # count as positives of the multi-label loss, whose negatives then come from the local batch.
    lo.NON_NOISY = False


def _add_zero_shot_config(cfg):
    cfg.MODEL.GROUPVIT.ZERO_SHOT = CN()
    z = cfg.MODEL.GROUPVIT.ZERO_SHOT
    # Prompt template set: "full" (CLIP's 80 templates), "subset" (7 templates) or "identity".
    z.TEMPLATES = "full"
    z.TOPK = 5
    # Per-dataset values come from MetadataCatalog (background_threshold); this is the fallback
    # for user vocabularies with a background class.
    z.BG_THRESH = 0.95
    # A user vocabulary replaces the dataset's classes when not empty: one class an element, commas
    # between synonyms, ';' between classes within an element ("black pickup truck, pickup truck; sky").
    z.VOCABULARY = []
    z.VOCABULARY_HAS_BACKGROUND = False
    # Where the groups come from (paper Table 4): "groups" (the learned grouping), "pixel" (every
    # patch token is its own group), or a clustering of the patch tokens of each image/window:
    # "kmeans", "spectral" (NUM_CLUSTERS clusters) or "meanshift" (bandwidth estimated per image).
    # A plain ViT (no grouping stages) has its final patch tokens as groups: "groups" = "pixel".
    z.GROUPING = "groups"
    z.NUM_CLUSTERS = 8

    # Class names to prompt with: "official" (the official GroupViT evaluation's renamed VOC and
    # Context classes, which the published GroupViT numbers use) or "tcl" (the VOC devkit's and
    # mmsegmentation's names, as the 8-benchmark protocol of TCL and later papers prompts).
    cfg.TEST.PROMPT_PROTOCOL = "official"

    cfg.TEST.SLIDING_WINDOW = CN()
    cfg.TEST.SLIDING_WINDOW.ENABLED = True
    cfg.TEST.SLIDING_WINDOW.CROP_SIZE = 448
    cfg.TEST.SLIDING_WINDOW.STRIDE = 224
    # Crops of one image's windows, and of same-size images of one batch, encoded per call.
    cfg.TEST.SLIDING_WINDOW.MAX_BATCH = 16
    # Class embeddings are also kept on disk, so that a later process with the same text weights,
    # names and templates skips the text encoder. DIR "" is $GROUPVIT_D2_CACHE_DIR, else
    # ~/.cache/groupvit_d2; `python -m groupvit_d2.modeling.core.embedding_cache --clear` empties it.
    cfg.TEST.CLASS_EMBEDDING_CACHE = CN()
    cfg.TEST.CLASS_EMBEDDING_CACHE.ENABLED = True
    cfg.TEST.CLASS_EMBEDDING_CACHE.DIR = ""
    # How many images of each evaluated dataset get their group pictures written (0: none).
    cfg.TEST.GROUP_PICTURES = 0


def _add_input_config(cfg):
    cfg.INPUT.FORMAT = "RGB"
    # Training data: "image_text" (captions, for GroupViT) or "semantic" (label maps through
    # Detectron2's DatasetMapper, for supervised transfer with a SemanticSegmentor).
    cfg.INPUT.DATASET_MAPPER_NAME = "image_text"
    # Zero-shot evaluation resize: keep the aspect ratio, fit inside (MAX_SIZE_TEST, MIN_SIZE_TEST),
    # i.e. the official (2048, 448).
    cfg.INPUT.MIN_SIZE_TEST = 448
    cfg.INPUT.MAX_SIZE_TEST = 2048
    # Also put the ground truth (original size) into test inputs as "sem_seg", for diagnostics
    # that need it; SemSegEvaluator reads labels from file and does not.
    cfg.INPUT.TEST_LOAD_SEM_SEG = False

    cfg.INPUT.IMAGE_TEXT = CN()
    it = cfg.INPUT.IMAGE_TEXT
    it.CROP_SIZE = 224
    it.CROP_SCALE = [0.08, 1.0]
    it.HFLIP = True
    it.COLOR_JITTER = 0.4
    it.RAND_AUGMENT = "rand-m9-mstd0.5-inc1"
    it.RANDOM_ERASING = 0.25
    # Multi-label targets: K labels per caption, prompted with a random template of TEMPLATES.
    it.NUM_LABELS = 3
    it.TEMPLATES = "full"
    # What fills the labels when a caption has fewer than K: "caption" repeats the caption (the
    # official code); "pad" leaves empty labels that carry no loss (the thesis).
    it.LABEL_FILL = "caption"
    # Label sources, pooled (distinct candidates, K sampled): "nouns", "noun_phrases", "caption".
    # The thesis' best setting is ["noun_phrases", "nouns"] with K=5 and LABEL_FILL "pad".
    it.LABEL_SOURCES = ["nouns"]
    # Optional file with one allowed label a line (a curated vocabulary). Labels in it are drawn
    # first, the others fill the rest (thesis), or never with LABEL_VOCABULARY_STRICT.
    it.LABEL_VOCABULARY = ""
    it.LABEL_VOCABULARY_STRICT = False
    # Words never used as labels (lower case; a noun phrase is dropped when its last word is one):
    # words about the picture rather than what it shows ("photo", "illustration", ...). They
    # repeat across unrelated captions, so as labels they ask unrelated images to match.
    it.LABEL_STOPWORDS = []
    # Part-of-speech tagger for nouns: "nltk" (perceptron tagger; needs the NLTK data package
    # averaged_perceptron_tagger_eng), "wordnet" (offline lexicon tagger over a WordNet 3.0 dict
    # folder, e.g. Debian's wordnet-base) or "auto" (nltk when its data is installed).
    it.NOUN_EXTRACTOR = "auto"
    # WordNet dict folder; "" searches $WNSEARCHDIR, /usr/share/wordnet and NLTK's data.
    it.WORDNET_DIR = ""
    # Tags that count as nouns (paper and thesis). The official code takes
    # NN NNS NNP VBG VB VBD VBN VBP VBZ (verbs included), groupvit_d2.data.text.OFFICIAL_WORD_TAGS.
    it.NOUN_TAGS = ["NN", "NNS", "NNP", "NNPS"]
    # Resampling filter of the random resized crop (and RandAugment), as the official config.
    it.INTERPOLATION = "bilinear"


def _add_dataset_config(cfg):
    cfg.DATASETS.IMAGE_TEXT = CN()
    d = cfg.DATASETS.IMAGE_TEXT
    # Webdataset shard patterns (brace expansion allowed), one per corpus; mixed in ratio WEIGHTS.
    d.SHARDS = []
    d.WEIGHTS = []
    d.SHUFFLE_BUFFER = 1000
    # Samples per epoch over the whole job (all processes).
    d.EPOCH_LENGTH = 10000
    # Registered image-caption datasets (e.g. "coco_captions_train2017") used instead of shards.
    d.NAMES = []
    # Draw shards with replacement so that an epoch never ends early (training). False reads each
    # shard once per pass, split over processes and workers (EPOCH_LENGTH is then not used).
    d.RESAMPLE = True
    # Each DataLoader worker logs its skipped / converted sample counts every LOG_PERIOD samples.
    d.LOG_PERIOD = 10000


def _add_solver_config(cfg):
    cfg.SOLVER.OPTIMIZER = "ADAMW"
    cfg.SOLVER.BASE_LR = 1.6e-3
    cfg.SOLVER.WEIGHT_DECAY = 0.05
    cfg.SOLVER.BETAS = [0.9, 0.999]
    # PyTorch's fused AdamW: one kernel over all parameters instead of a dozen per-tensor passes.
    # On a 2-core CPU its step over the released model's 55.7M parameters takes about a third of
    # the for-each one's. Same update up to float rounding; False restores the for-each kernel.
    cfg.SOLVER.ADAMW_FUSED = True
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupCosineLR"
    cfg.SOLVER.BASE_LR_END = 0.0
    # "WarmupCosineRestartsLR": cosine cycles of PERIOD iterations from BASE_LR to BASE_LR_END, each
    # restarting at BASE_LR, NUM_CYCLES of them, then BASE_LR_END (timm's CosineLRScheduler with
    # cycle_limit, as the thesis fine-tunes).
    cfg.SOLVER.COSINE_RESTARTS = CN()
    cfg.SOLVER.COSINE_RESTARTS.PERIOD = 1000
    cfg.SOLVER.COSINE_RESTARTS.NUM_CYCLES = 2
    cfg.SOLVER.WARMUP_METHOD = "linear"
    cfg.SOLVER.WARMUP_FACTOR = 1e-3
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 5.0
    cfg.SOLVER.CLIP_GRADIENTS.NORM_TYPE = 2.0
    # Parameter names trained when not empty; everything else is frozen, and BatchNorm layers whose
    # parameters are all frozen keep their running statistics. Entries are regular expressions
    # matched at the start of a name or presets of groupvit_d2.modeling.TRAINABLE_PRESETS
    # ("both_grouping_blocks", "second_grouping_block", "image_projector", "projectors", ...).
    cfg.SOLVER.TRAINABLE_PATTERNS = []
    # Mixed precision: Detectron2's SOLVER.AMP.ENABLED plus the dtype ("bfloat16" or "float16").
    cfg.SOLVER.AMP.DTYPE = "bfloat16"


def _add_diagnostics_config(cfg):
    # Extra evaluators run next to SemSegEvaluator (thesis sec. 5.4): "grouping" (kNN labels on the
    # final groups), "alignment" (each ground-truth region labelled by the argmax of its mean class
    # affinity, no background channel: thesis eq. 52) and/or "alignment_probabilities" (by the
    # argmax of its mean final probabilities, the thresholded background included).
    cfg.TEST.ORACLES = []
    # Grouping oracle: k nearest neighbours among the final-group features of KNN_BANK_DATASET (a
    # registered sem-seg training split), at most KNN_MAX_PER_CLASS features per majority class.
    cfg.TEST.KNN_K = 10
    cfg.TEST.KNN_MAX_PER_CLASS = 1000
    cfg.TEST.KNN_BANK_DATASET = ""
    # "windows": one feature per final group per sliding window, empty groups dropped; "thesis":
    # every final group of every whole image (8 features per image, the thesis's 11,592 for 1,449
    # images), empty ones with a zero soft label, the evaluated images taken whole as well.
    cfg.TEST.KNN_BANK_FORM = "windows"
    # Only the bank dataset's first this many images (0: all), for large training sets.
    cfg.TEST.KNN_BANK_MAX_IMAGES = 0
    # "tokens": the final group tokens (the thesis' 384-d features); "projected": the group
    # embeddings in the joint space.
    cfg.TEST.KNN_FEATURE = "tokens"
    # Also report the grouping oracle with background pixels ignored (the thesis' "WB" row).
    cfg.TEST.KNN_WITHOUT_BACKGROUND = True
    # How many images of each evaluated dataset get their group-assignment entropy map written.
    cfg.TEST.ENTROPY_MAPS = 0
    # Grouping health (groupvit_d2/modeling/groupvit/grouping_health.py): the training batches' figures go
    # to the event storage every PERIOD iterations, with a warning while the grouping is collapsed;
    # ENABLED also measures them, with the naming of the groups, on every evaluated dataset (one
    # more encoder pass over its sliding windows).
    cfg.TEST.GROUPING_HEALTH = CN()
    cfg.TEST.GROUPING_HEALTH.ENABLED = False
    cfg.TEST.GROUPING_HEALTH.PERIOD = 20
    # Per-class Boundary IoU (Cheng et al. 2021; GroupViT Table 3) next to SemSegEvaluator: each
    # class's boundary is its mask pixels within DILATION_RATIO x image diagonal of its contour.
    cfg.TEST.BOUNDARY_IOU = CN()
    cfg.TEST.BOUNDARY_IOU.ENABLED = False
    cfg.TEST.BOUNDARY_IOU.DILATION_RATIO = 0.02


def _add_contrastive_defaults(node):
    # The keys PACL and CLIPpy read alike: the initial temperature and the clamp of its scale, and
    # the prompt template set of the class embeddings.
    node.CONTRAST_TEMPERATURE = 0.07
    node.MAX_LOGIT_SCALE = 100.0
    node.TEMPLATES = "full"


def _add_alternative_models_config(cfg):
    # PACL (MODEL.META_ARCHITECTURE "PACL"): an open_clip model whose patch tokens are aligned with
    # its text embedding by a vision embedder (PACL paper; its segmentation: docs/DESIGN.md section 3).
    cfg.MODEL.PACL = CN()
    p = cfg.MODEL.PACL
    # Any open_clip model name with an open_clip ViT image tower, and its weights: an open_clip
    # pretrained tag (e.g. "openai") or a local checkpoint file; "" builds random towers.
    p.CLIP_MODEL = "ViT-B-16"
    p.PRETRAINED = "openai"
    # Merged into the open_clip model config (e.g. small random towers), a YAML mapping such as
    # {embed_dim: 64, vision_cfg: {width: 64, layers: 2}}.
    p.MODEL_OVERRIDES = CN(new_allowed=True)
    # The paper trains only the vision embedder on frozen CLIP towers.
    p.FREEZE_VISION = True
    p.FREEZE_TEXT = True
    # Factor on the patch-text cosine similarities before the softmax over patches (1: the paper).
    p.PATCH_ATTENTION_SCALE = 1.0
    # Stride of the patch-embedding convolution at test time (0: the patch size). A smaller
    # stride gives denser patch-text maps (the paper's stride trick).
    p.TEST_STRIDE = 0
    _add_contrastive_defaults(p)

    # CLIPpy (MODEL.META_ARCHITECTURE "CLIPpy"): a dual encoder from a self-supervised timm ViT
    # and a sentence-T5 text encoder, with max-pooled patch embeddings (CLIPpy paper; its segmentation:
    # docs/DESIGN.md section 3).
    cfg.MODEL.CLIPPY = CN()
    c = cfg.MODEL.CLIPPY
    c.IMAGE_MODEL = "vit_base_patch16_224.dino"
    # "hub": timm's published weights of IMAGE_MODEL; a file path: weights read from it; "": random.
    c.IMAGE_PRETRAINED = "hub"
    # Keyword arguments for timm.create_model, a YAML mapping (e.g. {embed_dim: 64, depth: 2}).
    c.IMAGE_OVERRIDES = CN(new_allowed=True)
    # A transformers T5 encoder checkpoint: a Hugging Face model name or a local folder (weights
    # and tokenizer). With TEXT_PRETRAINED False the encoder is random, built from TEXT_OVERRIDES
    # (T5Config keyword arguments, a YAML mapping), and reads the captions' CLIP BPE tokens.
    c.TEXT_MODEL = "sentence-transformers/sentence-t5-base"
    c.TEXT_PRETRAINED = True
    c.TEXT_OVERRIDES = CN(new_allowed=True)
    c.CONTEXT_LENGTH = 77
    c.EMBED_DIM = 512
    # Image embedding: "max" (CLIPpy), "avg" or "cls" pooling of the projected patch tokens.
    c.AGGREGATION = "max"
    # Share of the visual tokens dropped at random in training (the paper drops 80%).
    c.PATCH_DROP_RATE = 0.8
    # Bottom-up grouping: this many principal components of the patch features are the centres.
    c.NUM_GROUPS = 8
    _add_contrastive_defaults(c)

    # Bottom-up grouping quality (the Jaccard index of CLIPpy / DINO) next to SemSegEvaluator, for
    # models whose outputs carry "groups" or that have `group_maps` (GroupViT).
    cfg.TEST.JACCARD = CN()
    cfg.TEST.JACCARD.ENABLED = False
    # "best": each ground-truth segment takes its best-overlapping group; "hungarian": one-to-one.
    cfg.TEST.JACCARD.MATCHING = "best"
    # Leave the background segment (class 0 of datasets with a background) out of the index.
    cfg.TEST.JACCARD.IGNORE_BACKGROUND = False


def _add_failure_handling_config(cfg):
    # --eval-only without MODEL.WEIGHTS would score a randomly initialised model; that is refused
    # unless asked for here (baselines, smoke tests).
    cfg.TEST.ALLOW_RANDOM_WEIGHTS = False
    # Before inference, every image header and label map of each DATASETS.TEST split is checked
    # (readable, sizes matching, ids in range) and every bad file is reported at once.
    cfg.TEST.CHECK_SPLIT = True
    # Label ids that are neither a class nor the ignore value: "error" stops with the file and the
    # ids; "ignore" treats those pixels as ignored, warns, and reports the count in the results.
    cfg.TEST.OUT_OF_RANGE_LABELS = "error"
