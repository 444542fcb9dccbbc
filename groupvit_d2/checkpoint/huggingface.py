"""The Hugging Face transformers ``GroupViTModel`` format: import, export and the config bridge.

Users hold it as a state dict (``pytorch_model.bin``/``.pth``), a ``.safetensors`` file, or a
folder with ``config.json`` and ``model.safetensors``/``pytorch_model.bin`` (e.g.
``nvidia/groupvit-gcc-yfcc``). The differences from ours:

* HF splits every fused projection into ``q_proj``/``k_proj``/``v_proj``. The vision blocks'
  ``attn.qkv`` and the text blocks' ``attn.in_proj_{weight,bias}`` are concatenated in q, k, v
  order on import and split back on export.
* HF's projectors are ``Sequential(Linear, BatchNorm1d, ReLU, Linear)`` and ours are 1x1 Conv1d.
  The weights are reshaped (out, in) <-> (out, in, 1).
* HF has no ``multi_label_logit_scale``. After an import it keeps its initial value, and loading
  reports it as missing-but-expected.
* The ``layer_norm_eps`` defaults of HF's config (1e-5) are not ours. `cfg_overrides_from_hf_config`
  gives the cfg keys that rebuild the exact HF architecture, eps included.
* HF normalises pixels with CLIP's mean/std, not ImageNet's. Imported state dicts carry CLIP's
  statistics, or those of the folder's ``preprocessor_config.json``, as ``pixel_mean``/``pixel_std``.
"""
import json
import logging
import math
import os

import torch

from ..config import CLIP_PIXEL_MEAN, CLIP_PIXEL_STD
from .errors import CheckpointFormatError
from .key_mapping import KeyMap
from .safe_load import check_state_dict, load_safetensors_file, load_torch_file

logger = logging.getLogger(__name__)

__all__ = [
    "KEY_MAP",
    "hf_to_ours",
    "ours_to_hf",
    "is_hf_state_dict",
    "cfg_overrides_from_hf_config",
    "merge_hf_config",
    "hf_config_from_cfg",
    "find_hf_weights",
    "load_hf_weights",
    "read_hf_config",
    "read_hf_pixel_stats",
    "save_hf_folder",
]

_S, _V = "backbone.layers.{s}", "vision_model.encoder.stages.{s}"
_R, _T = "text_encoder.transformer.resblocks.{b}", "text_model.encoder.layers.{b}"
# (ours, Hugging Face, op). op "qkv": HF's {qkv} = q, k, v are one fused tensor here (dim 0).
# op "conv1x1": Linear (out, in) there, Conv1d (out, in, 1) here. First match wins.
KEY_MAP = KeyMap([
    # image encoder
    ("backbone.patch_embed.proj.{p}",            "vision_model.embeddings.patch_embeddings.projection.{p}", None),
    ("backbone.patch_embed.norm.{p}",            "vision_model.embeddings.layernorm.{p}",               None),
    ("backbone.pos_embed",                       "vision_model.embeddings.position_embeddings",         None),
    (_S + ".group_token",                        _V + ".group_token",                                   None),
    (_S + ".blocks.{b}.norm1.{p}",               _V + ".layers.{b}.layer_norm1.{p}",                    None),
    (_S + ".blocks.{b}.attn.qkv.{p}",            _V + ".layers.{b}.self_attn.{qkv}_proj.{p}",           "qkv"),
    (_S + ".blocks.{b}.attn.proj.{p}",           _V + ".layers.{b}.self_attn.out_proj.{p}",             None),
    (_S + ".blocks.{b}.norm2.{p}",               _V + ".layers.{b}.layer_norm2.{p}",                    None),
    (_S + ".blocks.{b}.mlp.{fc}.{p}",            _V + ".layers.{b}.mlp.{fc}.{p}",                       None),
    (_S + ".group_projector.{m}.{p}",            _V + ".group_projector.{m}.{p}",                       None),
    (_S + ".downsample.pre_assign_attn.attn.proj.{p}", _V + ".downsample.pre_assign_attn.attn.out_proj.{p}", None),
    # the rest of the Grouping Block has the same names on both sides: norm_tokens, mlp_inter,
    # norm_post_tokens, norm_x, pre_assign_attn.{attn.[qkv]_proj, norm2, mlp, norm_post},
    # assign.{[qkv]_proj, proj}, norm_new_x, mlp_channels
    (_S + ".downsample.{m}.{p}",                 _V + ".downsample.{m}.{p}",                            None),
    ("backbone.norm.{p}",                        "vision_model.layernorm.{p}",                          None),
    # text encoder
    ("text_encoder.token_embedding.weight",      "text_model.embeddings.token_embedding.weight",        None),
    ("text_encoder.positional_embedding",        "text_model.embeddings.position_embedding.weight",     None),
    (_R + ".attn.in_proj_weight",                _T + ".self_attn.{qkv}_proj.weight",                   "qkv"),
    (_R + ".attn.in_proj_bias",                  _T + ".self_attn.{qkv}_proj.bias",                     "qkv"),
    (_R + ".attn.out_proj.{p}",                  _T + ".self_attn.out_proj.{p}",                        None),
    (_R + ".ln_1.{p}",                           _T + ".layer_norm1.{p}",                               None),
    (_R + ".mlp.c_fc.{p}",                       _T + ".mlp.fc1.{p}",                                   None),
    (_R + ".mlp.c_proj.{p}",                     _T + ".mlp.fc2.{p}",                                   None),
    (_R + ".ln_2.{p}",                           _T + ".layer_norm2.{p}",                               None),
    ("text_encoder.ln_final.{p}",                "text_model.final_layer_norm.{p}",                     None),
    # projectors
    ("img_projector.linear_hidden.0.{p}",        "visual_projection.0.{p}",                             "conv1x1"),
    ("img_projector.linear_hidden.1.{p}",        "visual_projection.1.{p}",                             None),
    ("img_projector.linear_out.{p}",             "visual_projection.3.{p}",                             "conv1x1"),
    ("text_projector.linear_hidden.0.{p}",       "text_projection.0.{p}",                               "conv1x1"),
    ("text_projector.linear_hidden.1.{p}",       "text_projection.1.{p}",                               None),
    ("text_projector.linear_out.{p}",            "text_projection.3.{p}",                               "conv1x1"),
    ("logit_scale",                              "logit_scale",                                         None),
])

# Older HF files still hold this non-persistent buffer; it carries no weights.
IGNORED_HF_KEYS = ("text_model.embeddings.position_ids",)
# Ours, absent from HF: kept at their initial value on import.
EXPECTED_MISSING = ("multi_label_logit_scale",)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")

# transformers' GroupViTConfig defaults (4.x-5.x): what config.json files may leave out.
HF_VISION_DEFAULTS = {
    "hidden_size": 384, "intermediate_size": 1536, "depths": [6, 3, 3], "num_group_tokens": [64, 8, 0],
    "num_output_groups": [64, 8, 8], "num_attention_heads": 6, "image_size": 224, "patch_size": 16,
    "num_channels": 3, "hidden_act": "gelu", "layer_norm_eps": 1e-5, "assign_eps": 1.0,
    "assign_mlp_ratio": [0.5, 4],
}
HF_TEXT_DEFAULTS = {
    "vocab_size": 49408, "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 12,
    "num_attention_heads": 4, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
    "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1,
}
HF_DEFAULTS = {"projection_dim": 256, "projection_intermediate_dim": 4096, "logit_scale_init_value": 2.6592}


def is_hf_state_dict(state_dict):
    """Whether the keys are those of transformers' GroupViTModel."""
    return any(k.startswith(("vision_model.", "text_model.")) for k in state_dict)


def clip_pixel_stats():
    """{"pixel_mean", "pixel_std"}: CLIP's, (3, 1, 1), 0-255 scale."""
    return {
        "pixel_mean": torch.tensor(CLIP_PIXEL_MEAN, dtype=torch.float32).view(3, 1, 1),
        "pixel_std": torch.tensor(CLIP_PIXEL_STD, dtype=torch.float32).view(3, 1, 1),
    }


# ------------------------------------------------------------------------------------------------
# State dicts
# ------------------------------------------------------------------------------------------------
def hf_to_ours(hf_state_dict, pixel_stats=None):
    """HF GroupViTModel state dict -> (our state dict, HF keys without a counterpart).

    The result carries `pixel_stats` ({"pixel_mean", "pixel_std"}, (3, 1, 1), 0-255 scale),
    by default CLIP's. HF keys that no rule maps are kept under their own names, so that loading
    reports them as unexpected. The legacy ``position_ids`` buffer is left out.
    """
    out, unmapped, fused = {}, [], {}
    for key, value in hf_state_dict.items():
        if key in IGNORED_HF_KEYS:
            continue
        hit = KEY_MAP.to_ours(key)
        if hit is None:
            unmapped.append(key)
            out[key] = value
            continue
        ours, op, fields = hit
        if op == "qkv":
            fused.setdefault(ours, {})[fields["qkv"]] = (key, value)
        elif op == "conv1x1" and value.dim() == 2:
            out[ours] = value.unsqueeze(-1)
        else:
            out[ours] = value
    for ours, parts in fused.items():
        missing = [letter for letter in "qkv" if letter not in parts]
        if missing:
            known = next(iter(parts.values()))[0]
            raise CheckpointFormatError(
                f"Hugging Face checkpoint has {known} but not its {'/'.join(m + '_proj' for m in missing)} "
                f"counterpart(s); cannot build {ours}"
            )
        out[ours] = torch.cat([parts[letter][1] for letter in "qkv"], dim=0)
    for key, value in (pixel_stats or clip_pixel_stats()).items():
        out[key] = value
    return out, unmapped


def ours_to_hf(state_dict):
    """Our state dict -> (HF GroupViTModel state dict, our keys HF has no place for).

    The dropped keys are at least ``multi_label_logit_scale`` and the pixel statistics; a
    projector deeper than 2 layers also lands there (HF's is fixed at 2).
    """
    out, dropped = {}, []
    for key, value in state_dict.items():
        hit = KEY_MAP.to_theirs(key)
        if hit is None:
            dropped.append(key)
            continue
        hf_key, op, _ = hit
        if op == "qkv":
            if value.shape[0] % 3:
                raise CheckpointFormatError(f"{key} has {value.shape[0]} rows, not a multiple of 3 (q, k, v)")
            for letter, part in zip("qkv", value.chunk(3, dim=0)):
                out[hf_key.replace("{qkv}", letter)] = part.clone()
        elif op == "conv1x1" and value.dim() == 3:
            out[hf_key] = value.squeeze(-1)
        else:
            out[hf_key] = value
    return out, dropped


# ------------------------------------------------------------------------------------------------
# Configs
# ------------------------------------------------------------------------------------------------
def _as_config_dict(hf_config):
    """A GroupViTConfig, a config.json dict, or a path to config.json / its folder -> plain dict."""
    if isinstance(hf_config, (str, os.PathLike)):
        path = os.path.join(hf_config, "config.json") if os.path.isdir(hf_config) else hf_config
        with open(path) as f:
            hf_config = json.load(f)
    elif hasattr(hf_config, "to_dict"):
        hf_config = hf_config.to_dict()
    if not isinstance(hf_config, dict):
        raise TypeError(f"Expected a GroupViTConfig, a config.json dict or path, got {type(hf_config).__name__}")
    if hf_config.get("model_type", "groupvit") != "groupvit":
        raise CheckpointFormatError(f"config.json describes a {hf_config['model_type']!r} model, not 'groupvit'")
    return hf_config


def _sub_config(config, name, defaults):
    sub = dict(defaults)
    for key in (f"{name}_config", f"{name}_config_dict"):  # the latter in files from 2022
        if isinstance(config.get(key), dict):
            sub.update({k: v for k, v in config[key].items() if v is not None})
    return sub


def _require(cond, field, value, why):
    if not cond:
        raise ValueError(f"Hugging Face GroupViT config {field}={value!r} cannot be represented: {why}")


def cfg_overrides_from_hf_config(hf_config):
    """The cfg keys that rebuild the architecture of an HF GroupViTConfig exactly.

    hf_config: a transformers GroupViTConfig, a config.json dict, or a path to config.json or its
    folder. Returns an ordered {full cfg key: value} dict (depths, group tokens, outputs, widths,
    heads, eps, projection sizes, text layers/width/heads/context/vocabulary, CLIP pixel stats); see
    `merge_hf_config` to apply it. Raises ValueError for HF settings our model cannot express.
    """
    config = _as_config_dict(hf_config)
    v = _sub_config(config, "vision", HF_VISION_DEFAULTS)
    t = _sub_config(config, "text", HF_TEXT_DEFAULTS)
    top = {k: config.get(k, d) for k, d in HF_DEFAULTS.items()}

    depths, tokens, outputs = list(v["depths"]), list(v["num_group_tokens"]), list(v["num_output_groups"])
    n = len(depths)
    _require(len(tokens) == n and len(outputs) >= n - 1, "vision_config.num_group_tokens", tokens,
             f"need one entry per stage ({n})")
    _require(tokens[-1] == 0 and all(x > 0 for x in tokens[:-1]), "vision_config.num_group_tokens", tokens,
             "every stage but the last groups (has group tokens) and the last one does not")
    for i in range(1, n - 1):
        # HF sizes stage i's group projector by num_output_groups[i-1]; it mixes the previous
        # stage's num_group_tokens[i-1] tokens, as ours (and the official code) do.
        _require(outputs[i - 1] == tokens[i - 1], "vision_config.num_output_groups", outputs,
                 f"stage {i}'s group projector needs num_output_groups[{i - 1}] == num_group_tokens[{i - 1}]")
    image_size, patch_size = v["image_size"], v["patch_size"]
    if isinstance(image_size, (list, tuple)):
        _require(len(set(image_size)) == 1, "vision_config.image_size", image_size, "only square inputs")
        image_size = image_size[0]
    if isinstance(patch_size, (list, tuple)):
        _require(len(set(patch_size)) == 1, "vision_config.patch_size", patch_size, "only square patches")
        patch_size = patch_size[0]
    width = v["hidden_size"]
    _require(v["intermediate_size"] == 4 * width, "vision_config.intermediate_size", v["intermediate_size"],
             f"the Grouping Block's cross-attention MLP is 4 x hidden_size ({4 * width}) wide")
    _require([float(x) for x in v["assign_mlp_ratio"]] == [0.5, 4.0], "vision_config.assign_mlp_ratio",
             v["assign_mlp_ratio"], "the Grouping Block's MLP ratios are fixed at (0.5, 4)")
    _require(v["hidden_act"] == "gelu", "vision_config.hidden_act", v["hidden_act"], "the image tower uses exact GELU")
    _require(v["num_channels"] == 3, "vision_config.num_channels", v["num_channels"], "RGB input only")
    _require(t["intermediate_size"] == 4 * t["hidden_size"], "text_config.intermediate_size", t["intermediate_size"],
             "the text MLP is 4 x hidden_size wide")
    _require(t["hidden_act"] == "quick_gelu", "text_config.hidden_act", t["hidden_act"],
             "the text tower uses QuickGELU")

    g, gt = "MODEL.GROUPVIT.", "MODEL.GROUPVIT.TEXT."
    return {
        g + "IMAGE_SIZE": int(image_size),
        g + "PATCH_SIZE": int(patch_size),
        g + "EMBED_DIM": int(width),
        g + "DEPTHS": [int(x) for x in depths],
        g + "NUM_HEADS": [int(v["num_attention_heads"])] * n,
        g + "NUM_GROUP_TOKENS": [int(x) for x in tokens],
        g + "NUM_OUTPUT_GROUPS": [int(x) for x in outputs[: n - 1]],
        g + "MLP_RATIO": float(v["intermediate_size"]) / width,
        g + "QKV_BIAS": True,
        g + "LAYER_NORM_EPS": float(v["layer_norm_eps"]),
        g + "ASSIGN_EPS": float(v["assign_eps"]),
        g + "HARD_ASSIGNMENT": True,
        g + "PROJECTION_DIM": int(top["projection_dim"]),
        g + "PROJECTION_INTERMEDIATE_DIM": int(top["projection_intermediate_dim"]),
        g + "PROJECTION_NUM_LAYERS": 2,
        gt + "CONTEXT_LENGTH": int(t["max_position_embeddings"]),
        gt + "VOCAB_SIZE": int(t["vocab_size"]),
        gt + "WIDTH": int(t["hidden_size"]),
        gt + "LAYERS": int(t["num_hidden_layers"]),
        gt + "HEADS": int(t["num_attention_heads"]),
        gt + "LAYER_NORM_EPS": float(t["layer_norm_eps"]),
        "MODEL.PIXEL_MEAN": list(CLIP_PIXEL_MEAN),
        "MODEL.PIXEL_STD": list(CLIP_PIXEL_STD),
    }


def merge_hf_config(cfg, hf_config):
    """Apply `cfg_overrides_from_hf_config(hf_config)` to a Detectron2 cfg (in place); returns cfg."""
    overrides = cfg_overrides_from_hf_config(hf_config)
    cfg.merge_from_list([x for kv in overrides.items() for x in kv])
    return cfg


def hf_config_from_cfg(cfg):
    """A config.json dict for transformers' GroupViTModel with our cfg's architecture.

    Raises ValueError for settings HF's GroupViT cannot express: per-stage heads, no qkv bias, soft
    assignment, a projector that is not 2-layer, or an output-group count its group projector
    cannot take.
    """
    g, t = cfg.MODEL.GROUPVIT, cfg.MODEL.GROUPVIT.TEXT
    depths, tokens, outputs = list(g.DEPTHS), list(g.NUM_GROUP_TOKENS), list(g.NUM_OUTPUT_GROUPS)
    n = len(depths)

    def require(cond, key, value, why):
        if not cond:
            raise ValueError(f"MODEL.GROUPVIT.{key}={value!r} cannot be exported to Hugging Face GroupViT: {why}")

    require(len(set(g.NUM_HEADS)) == 1, "NUM_HEADS", list(g.NUM_HEADS), "HF has one head count for every stage")
    require(g.QKV_BIAS, "QKV_BIAS", g.QKV_BIAS, "HF's attention projections always have biases")
    require(g.HARD_ASSIGNMENT, "HARD_ASSIGNMENT", g.HARD_ASSIGNMENT, "HF always groups with the hard assignment")
    require(g.PROJECTION_NUM_LAYERS == 2, "PROJECTION_NUM_LAYERS", g.PROJECTION_NUM_LAYERS,
            "HF's projectors are 2-layer")
    require(tokens[-1] == 0 and all(x > 0 for x in tokens[:-1]), "NUM_GROUP_TOKENS", tokens,
            "HF builds a Grouping Block exactly where a stage has group tokens")
    for i in range(1, n - 1):
        require(outputs[i - 1] == tokens[i - 1], "NUM_OUTPUT_GROUPS", outputs,
                f"HF sizes stage {i}'s group projector by NUM_OUTPUT_GROUPS[{i - 1}], which must then equal "
                f"NUM_GROUP_TOKENS[{i - 1}]")
    if not g.GUMBEL or g.GUMBEL_TAU != 1.0:
        logger.warning("Hugging Face GroupViT trains with Gumbel noise at tau 1; MODEL.GROUPVIT.GUMBEL=%s, "
                       "GUMBEL_TAU=%s only change training, not the exported weights", g.GUMBEL, g.GUMBEL_TAU)
    width = int(g.EMBED_DIM)
    text_heads = int(t.HEADS) or int(t.WIDTH) // 64
    return {
        "architectures": ["GroupViTModel"],
        "model_type": "groupvit",
        "projection_dim": int(g.PROJECTION_DIM),
        "projection_intermediate_dim": int(g.PROJECTION_INTERMEDIATE_DIM),
        "logit_scale_init_value": math.log(1.0 / g.CONTRAST_TEMPERATURE),
        "vision_config": {
            "model_type": "groupvit_vision_model",
            "hidden_size": width,
            "intermediate_size": int(round(g.MLP_RATIO * width)),
            "num_hidden_layers": sum(depths),
            "depths": depths,
            "num_group_tokens": tokens,
            # HF lists one entry per stage; the last stage's is never used.
            "num_output_groups": outputs + [outputs[-1] if outputs else 0],
            "num_attention_heads": int(g.NUM_HEADS[0]),
            "image_size": int(g.IMAGE_SIZE),
            "patch_size": int(g.PATCH_SIZE),
            "num_channels": 3,
            "hidden_act": "gelu",
            "layer_norm_eps": float(g.LAYER_NORM_EPS),
            "assign_eps": float(g.ASSIGN_EPS),
            "assign_mlp_ratio": [0.5, 4],
        },
        "text_config": {
            "model_type": "groupvit_text_model",
            "vocab_size": int(t.VOCAB_SIZE),
            "hidden_size": int(t.WIDTH),
            "intermediate_size": 4 * int(t.WIDTH),
            "num_hidden_layers": int(t.LAYERS),
            "num_attention_heads": text_heads,
            "max_position_embeddings": int(t.CONTEXT_LENGTH),
            "hidden_act": "quick_gelu",
            "layer_norm_eps": float(t.LAYER_NORM_EPS),
            "bos_token_id": HF_TEXT_DEFAULTS["bos_token_id"],
            "eos_token_id": HF_TEXT_DEFAULTS["eos_token_id"],
            "pad_token_id": HF_TEXT_DEFAULTS["pad_token_id"],
        },
    }


# ------------------------------------------------------------------------------------------------
# Files and folders
# ------------------------------------------------------------------------------------------------
def find_hf_weights(folder):
    """The weights file of an HF model folder (model.safetensors, pytorch_model.bin or an index)."""
    for name in WEIGHT_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise CheckpointFormatError(
        f"{folder} is a folder but holds none of {', '.join(WEIGHT_FILES)}; found {sorted(os.listdir(folder))[:10]}"
    )


def load_hf_weights(path):
    """{name: tensor} from an HF weights file: .safetensors, a torch state dict, or a shard index."""
    if path.endswith(".index.json"):
        with open(path) as f:
            weight_map = json.load(f).get("weight_map")
        if not isinstance(weight_map, dict):
            raise CheckpointFormatError(f"{path} has no 'weight_map'; it is not a sharded-checkpoint index")
        state_dict = {}
        for shard in sorted(set(weight_map.values())):
            state_dict.update(load_hf_weights(os.path.join(os.path.dirname(path), shard)))
        return state_dict
    if path.endswith(".safetensors"):
        return load_safetensors_file(path)
    state_dict = load_torch_file(path)
    check_state_dict(state_dict, path)
    return state_dict


def read_hf_config(folder):
    """The config.json dict of an HF model folder, or None when the folder has none."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return _as_config_dict(json.load(f))
    except json.JSONDecodeError as err:
        raise CheckpointFormatError(f"{path} is not valid JSON ({err})") from err


def read_hf_pixel_stats(folder):
    """{"pixel_mean", "pixel_std"} (0-255, (3, 1, 1)) from preprocessor_config.json, or None."""
    path = os.path.join(folder, "preprocessor_config.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        pre = json.load(f)
    mean, std = pre.get("image_mean"), pre.get("image_std")
    if mean is None or std is None:
        return None
    if len(mean) != 3 or len(std) != 3:
        raise CheckpointFormatError(f"{path}: image_mean/image_std must have 3 entries, got {mean} / {std}")
    return {
        "pixel_mean": torch.tensor(mean, dtype=torch.float32).view(3, 1, 1) * 255.0,
        "pixel_std": torch.tensor(std, dtype=torch.float32).view(3, 1, 1) * 255.0,
    }


def save_hf_folder(state_dict, cfg, folder, safe_serialization=True):
    """Write our state dict as an HF model folder that ``GroupViTModel.from_pretrained`` loads.

    Writes config.json (`hf_config_from_cfg`), model.safetensors (or pytorch_model.bin when
    `safe_serialization` is False or safetensors is missing) and preprocessor_config.json with the
    checkpoint's own pixel statistics, so HF users normalise as the model was trained.
    Returns the list of our keys that HF has no place for.
    """
    config = hf_config_from_cfg(cfg)
    hf_state_dict, dropped = ours_to_hf(state_dict)
    dropped_weights = [k for k in dropped if k not in ("pixel_mean", "pixel_std") + EXPECTED_MISSING]
    if dropped_weights:
        raise ValueError(f"These weights have no place in Hugging Face GroupViT: {dropped_weights}")
    hf_state_dict = {k: v.detach().cpu().contiguous().clone() for k, v in hf_state_dict.items()}
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    if safe_serialization:
        try:
            from safetensors.torch import save_file
        except ImportError:
            safe_serialization = False
    if safe_serialization:
        save_file(hf_state_dict, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    else:
        torch.save(hf_state_dict, os.path.join(folder, "pytorch_model.bin"))
    stats = {k: state_dict[k] for k in ("pixel_mean", "pixel_std") if k in state_dict} or clip_pixel_stats()
    size = int(cfg.MODEL.GROUPVIT.IMAGE_SIZE)
    preprocessor = {
        "image_processor_type": "CLIPImageProcessor",
        "do_convert_rgb": True,
        "do_resize": True,
        "size": {"shortest_edge": size},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [float(x) / 255.0 for x in stats["pixel_mean"].flatten()],
        "image_std": [float(x) / 255.0 for x in stats["pixel_std"].flatten()],
    }
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor, f, indent=2, sort_keys=True)
    return dropped
