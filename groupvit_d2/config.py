"""Every groupvit_d2 default, under MODEL.GROUPVIT, INPUT, DATASETS, SOLVER and TEST."""
import torch
from detectron2.config import CfgNode as CN

# ImageNet statistics on the 0-255 scale, RGB order: what the official GroupViT code normalises
# with. Checkpoints converted from the Hugging Face port carry CLIP's instead.
IMAGENET_PIXEL_MEAN = [123.675, 116.28, 103.53]
IMAGENET_PIXEL_STD = [58.395, 57.12, 57.375]
CLIP_PIXEL_MEAN = [122.7709383, 116.7460125, 104.09373615]
CLIP_PIXEL_STD = [68.5005327, 66.6321579, 70.32316305]


def add_groupvit_config(cfg):
    """Add the groupvit_d2 keys to a Detectron2 config (in place)."""
    _add_model_config(cfg)
    _add_text_config(cfg)
    _add_loss_config(cfg)
    _add_zero_shot_config(cfg)
    _add_input_config(cfg)
    _add_dataset_config(cfg)
    _add_solver_config(cfg)


def _add_model_config(cfg):
    # Detectron2 defaults to "cuda"; a CPU-only machine should run without a flag.
    cfg.MODEL.DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
    cfg.MODEL.META_ARCHITECTURE = "GroupViT"
    cfg.MODEL.BACKBONE.NAME = "GroupViTImageEncoder"
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.MODEL.PIXEL_MEAN = list(IMAGENET_PIXEL_MEAN)
    cfg.MODEL.PIXEL_STD = list(IMAGENET_PIXEL_STD)

    cfg.MODEL.GROUPVIT = CN()
    g = cfg.MODEL.GROUPVIT
    # Image encoder (SPEC section 1). The training grid is IMAGE_SIZE / PATCH_SIZE.
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
    # The official code gives the multi-label loss its own learnable logit scale.
    lo.SHARE_TEMPERATURE = False


def _add_zero_shot_config(cfg):
    cfg.MODEL.GROUPVIT.ZERO_SHOT = CN()
    z = cfg.MODEL.GROUPVIT.ZERO_SHOT
    # Prompt template set: "full" (CLIP's 80 templates), "subset" (7 templates) or "identity".
    z.TEMPLATES = "full"
    z.TOPK = 5
    # Per-dataset values come from MetadataCatalog (background_threshold); this is the fallback
    # for user vocabularies with a background class.
    z.BG_THRESH = 0.95
    # A user vocabulary (class names) replaces the dataset's classes when not empty.
    z.VOCABULARY = []
    z.VOCABULARY_HAS_BACKGROUND = False

    cfg.TEST.SLIDING_WINDOW = CN()
    cfg.TEST.SLIDING_WINDOW.ENABLED = True
    cfg.TEST.SLIDING_WINDOW.CROP_SIZE = 448
    cfg.TEST.SLIDING_WINDOW.STRIDE = 224
    # How many images of each evaluated dataset get their group pictures written (0: none).
    cfg.TEST.GROUP_PICTURES = 0


def _add_input_config(cfg):
    cfg.INPUT.FORMAT = "RGB"
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
    cfg.SOLVER.LR_SCHEDULER_NAME = "WarmupCosineLR"
    cfg.SOLVER.BASE_LR_END = 0.0
    cfg.SOLVER.WARMUP_METHOD = "linear"
    cfg.SOLVER.WARMUP_FACTOR = 1e-3
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 5.0
    cfg.SOLVER.CLIP_GRADIENTS.NORM_TYPE = 2.0
    # Parameter names (regular expressions) trained when not empty; everything else is frozen.
    cfg.SOLVER.TRAINABLE_PATTERNS = []
    # Mixed precision: Detectron2's SOLVER.AMP.ENABLED plus the dtype ("bfloat16" or "float16").
    cfg.SOLVER.AMP.DTYPE = "bfloat16"
