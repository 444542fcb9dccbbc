"""CLIPpy's text tower: a T5 encoder with mean pooling over the tokens (Sentence-T5)."""
import torch
import torch.nn as nn

from ...data.text import build_tokenizer
from ..core import parse_overrides, weights_unavailable

__all__ = ["SentenceT5Encoder", "build_sentence_t5", "SENTENCE_T5_BASE"]

# sentence-t5-base's encoder (T5 v1.0 base); the vocabulary is replaced by CLIP BPE when random.
SENTENCE_T5_BASE = dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12, feed_forward_proj="relu",
                        dropout_rate=0.1, layer_norm_epsilon=1e-6)


class SentenceT5Encoder(nn.Module):
    """(N, L) token ids -> (N, d_model): the mean of the T5 encoder's outputs over the real tokens.

    Two tokenizers are possible: the checkpoint's own (pretrained; padding is its pad id), or CLIP
    BPE (random weights; `reads_clip_bpe`, the text runs up to its end-of-text token, so captions
    from the image-text mapper can be used as they are).
    """

    def __init__(self, encoder, tokenize, context_length, pad_token_id=0, eot_token=None):
        super().__init__()
        self.encoder = encoder
        self._tokenize = tokenize
        self.context_length = int(context_length)
        self.pad_token_id = pad_token_id
        self.eot_token = eot_token
        self.reads_clip_bpe = eot_token is not None
        self.width = int(encoder.config.d_model)

    def tokenize(self, texts):
        """list of N strings -> (N, context_length) token ids."""
        return self._tokenize(list(texts))

    def attention_mask(self, tokens):
        """(N, L) bool, True on real tokens."""
        if self.reads_clip_bpe:
            # CLIP BPE pads with 0, which is also a real token ("!"): the text ends at its EOT.
            end = (tokens == self.eot_token).int().argmax(dim=1, keepdim=True)
            end = torch.where((tokens == self.eot_token).any(dim=1, keepdim=True), end, tokens.shape[1] - 1)
            return torch.arange(tokens.shape[1], device=tokens.device)[None] <= end
        return tokens != self.pad_token_id

    def forward(self, tokens):
        mask = self.attention_mask(tokens)
        hidden = self.encoder(input_ids=tokens, attention_mask=mask.long()).last_hidden_state
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def build_sentence_t5(model_name, pretrained=True, overrides="", context_length=77):
    """A SentenceT5Encoder.

    Args:
        model_name: a Hugging Face model name or local folder holding a T5 encoder checkpoint and
            its tokenizer (e.g. "sentence-transformers/sentence-t5-base").
        pretrained: load `model_name`'s weights and tokenizer (transformers from_pretrained); False
            builds a random encoder from the sentence-t5-base architecture with `overrides`
            (T5Config keyword arguments, MODEL.CLIPPY.TEXT_OVERRIDES) that reads CLIP BPE.
        context_length: tokens per text.

    Raises:
        PretrainedWeightsError: the checkpoint cannot be downloaded or read.
    """
    from transformers import AutoTokenizer, T5Config, T5EncoderModel

    kwargs = parse_overrides(overrides, "MODEL.CLIPPY.TEXT_OVERRIDES")
    if not pretrained:
        bpe = build_tokenizer(context_length)
        config = T5Config(**{**SENTENCE_T5_BASE, "vocab_size": len(bpe.encoder), **kwargs})
        return SentenceT5Encoder(T5EncoderModel(config), bpe, context_length, eot_token=bpe.eot_token_id)
    if kwargs:
        raise ValueError("MODEL.CLIPPY.TEXT_OVERRIDES applies to random encoders only (TEXT_PRETRAINED False)")
    try:
        encoder = T5EncoderModel.from_pretrained(model_name)
        hf_tokenizer = AutoTokenizer.from_pretrained(model_name)
    except Exception as err:  # noqa: BLE001  (download and read errors come in many types)
        raise weights_unavailable(
            "transformers", model_name, model_name, err,
            "download it where the Hugging Face hub is reachable (transformers then reads its cache), or set "
            "MODEL.CLIPPY.TEXT_MODEL to a local folder, or MODEL.CLIPPY.TEXT_PRETRAINED to False for a random "
            "encoder.",
            what="the checkpoint and tokenizer of",
        ) from err

    def tokenize(texts):
        return hf_tokenizer(texts, padding="max_length", truncation=True, max_length=context_length,
                            return_tensors="pt")["input_ids"]

    return SentenceT5Encoder(encoder, tokenize, context_length, pad_token_id=hf_tokenizer.pad_token_id)
