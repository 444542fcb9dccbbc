from types import SimpleNamespace

import pytest
import torch

from groupvit_d2.modeling.core import caption_tokens, fit_context

EOT = 49407


def test_fit_context_pads_and_cuts_keeping_eot():
    tokens = torch.tensor([[49406, 5, 6, EOT, 0], [49406, 7, EOT, 0, 0]])
    assert fit_context(tokens, 7, EOT).tolist() == [[49406, 5, 6, EOT, 0, 0, 0], [49406, 7, EOT, 0, 0, 0, 0]]
    # Row 0 runs past 3 tokens: its last kept id becomes EOT; row 1 ends exactly at 3.
    assert fit_context(tokens, 3, EOT).tolist() == [[49406, 5, EOT], [49406, 7, EOT]]
    with pytest.raises(ValueError, match=r"\(N, L\)"):
        fit_context(tokens[0], 3, EOT)


def test_clip_bpe_towers_read_the_mapper_caption_row():
    tower = SimpleNamespace(reads_clip_bpe=True, context_length=4, eot_token=EOT)
    batch = [
        {"text": torch.tensor([[49406, 1, EOT], [49406, 9, EOT]]), "caption": "ignored"},  # caption, then a label
        {"text": torch.tensor([49406, 2, EOT])},
    ]
    assert caption_tokens(batch, tower).tolist() == [[49406, 1, EOT, 0], [49406, 2, EOT, 0]]
    with pytest.raises(KeyError, match="'text'"):
        caption_tokens([{"image": None}], tower)


def test_other_towers_tokenize_the_caption_string():
    seen = []
    tower = SimpleNamespace(reads_clip_bpe=False,
                            tokenize=lambda texts: seen.extend(texts) or torch.ones(len(texts), 3))
    out = caption_tokens([{"caption": "a red ball"}, {"caption": "a blue box"}], tower)
    assert seen == ["a red ball", "a blue box"] and out.shape == (2, 3)
    with pytest.raises(KeyError, match="caption"):
        caption_tokens([{"text": torch.zeros(3)}], tower)
