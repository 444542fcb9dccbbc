import pytest
import torch.nn as nn
from detectron2.utils.events import EventStorage

from groupvit_d2.engine.group_token_fade import GroupTokenFadeHook
from groupvit_d2.modeling.groupvit.image_encoder import GroupViTImageEncoder
from groupvit_d2.modeling.groupvit.layers.grouping import GroupingBlock

TINY = dict(img_size=32, patch_size=16, embed_dim=12, depths=(1, 1, 1), num_heads=(3, 3, 3),
            num_group_tokens=(4, 2, 0), num_output_groups=(4, 2))


def _blocks(model):
    return [m for m in model.modules() if isinstance(m, GroupingBlock)]


def test_encoder_built_with_a_fade_is_evaluated_without_the_group_token():
    assert [b.token_residual_weight for b in _blocks(GroupViTImageEncoder(**TINY))] == [1.0, 1.0]
    faded = GroupViTImageEncoder(**TINY, group_token_residual_fade=(10, 20))
    assert [b.token_residual_weight for b in _blocks(faded)] == [0.0, 0.0]
    with pytest.raises(ValueError, match="GROUP_TOKEN_RESIDUAL"):
        GroupViTImageEncoder(**TINY, group_token_residual=False, group_token_residual_fade=(10, 20))


class _Trainer:
    def __init__(self, model, storage):
        self.model, self.storage, self.iter = model, storage, 0


def test_fade_hook_sets_the_weight_each_step_and_zero_after_training():
    model = nn.Sequential(GroupViTImageEncoder(**TINY, group_token_residual_fade=(10, 20)))
    hook = GroupTokenFadeHook((10, 20))
    with EventStorage(0) as storage:
        hook.trainer = _Trainer(model, storage)
        seen = []
        for it in (0, 10, 15, 20, 30):
            hook.trainer.iter = storage.iter = it
            hook.before_step()
            seen.append([b.token_residual_weight for b in _blocks(model)])
        assert seen == [[1.0, 1.0], [1.0, 1.0], [0.5, 0.5], [0.0, 0.0], [0.0, 0.0]]
        assert storage.history("grouping/token_residual_weight").values()[-3][0] == 0.5
        hook.trainer.iter = storage.iter = 12
        hook.before_step()
        hook.after_train()
    assert [b.token_residual_weight for b in _blocks(model)] == [0.0, 0.0]
