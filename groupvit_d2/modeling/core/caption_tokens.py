"""The caption of each training sample as token ids for a given text tower."""
import torch

__all__ = ["fit_context", "caption_tokens"]


def fit_context(tokens, context_length, eot_token):
    """Zero-pad or cut (N, L) CLIP BPE ids to (N, context_length).

    A text cut short keeps `eot_token` as its last id, as CLIP's tokenizer does, so that pooling
    at the end-of-text token still finds one.
    """
    if tokens.dim() != 2:
        raise ValueError(f"expected (N, L) token ids, got shape {tuple(tokens.shape)}")
    n, length = tokens.shape
    if length <= context_length:
        return torch.cat([tokens, tokens.new_zeros(n, context_length - length)], dim=1)
    cut = tokens[:, :context_length].clone()
    overflow = (tokens[:, context_length:] != 0).any(dim=1)
    cut[overflow, -1] = eot_token
    return cut


def caption_tokens(batched_inputs, text_tower):
    """(B, L) ids of each sample's caption, for `text_tower`.

    Towers that read CLIP BPE (``text_tower.reads_clip_bpe``) take the image-text mapper's tokens
    ("text" row 0, the caption; the prompted labels after it are not used), fitted to the tower's
    context length. Towers with their own tokenizer re-tokenize the "caption" string.
    """
    if text_tower.reads_clip_bpe:
        rows = []
        for x in batched_inputs:
            if "text" not in x:
                raise KeyError(f"training sample has no 'text' token ids (keys: {sorted(x)})")
            text = x["text"]
            rows.append(text[0] if text.dim() == 2 else text)
        lengths = {r.shape[0] for r in rows}
        if len(lengths) != 1:
            raise ValueError(f"caption token rows differ in length: {sorted(lengths)}")
        return fit_context(torch.stack(rows), text_tower.context_length, text_tower.eot_token)
    captions = []
    for x in batched_inputs:
        if not isinstance(x.get("caption"), str):
            raise KeyError(
                "this text tower has its own tokenizer and needs each sample's 'caption' string "
                f"(keys: {sorted(x)})"
            )
        captions.append(x["caption"])
    return text_tower.tokenize(captions)
