"""Helpers of the image-encoder benchmarks: transformers' GroupViT image path (public API and at
sizes that API refuses), bf16 autocast on any device, and profiler labels for submodules."""
import contextlib

import torch

__all__ = ["hf_image_embeds", "hf_image_embeds_interpolated", "hf_public_api_error", "autocast", "ModuleScopes"]


def hf_image_embeds(hf, pixels):
    """HF's public path: the projected pooled image feature (B, D)."""
    out = hf.get_image_features(pixel_values=pixels)
    return out if torch.is_tensor(out) else out.pooler_output


def hf_image_embeds_interpolated(hf, pixels):
    """HF's own submodules at a size its model API rejects: the same computation as
    `get_image_features`, with the embeddings told to interpolate the position encoding."""
    vision = hf.vision_model
    hidden = vision.embeddings(pixels, interpolate_pos_encoding=True)
    hidden = vision.encoder(hidden_states=hidden, return_dict=True).last_hidden_state
    return hf.visual_projection(vision.layernorm(hidden).mean(dim=1))


def hf_public_api_error(hf, pixels):
    """What HF's public API says to an input of this size (None if it accepts it)."""
    attempts = [
        ("get_image_features(pixel_values)", lambda: hf_image_embeds(hf, pixels)),
        ("get_image_features(pixel_values, interpolate_pos_encoding=True)",
         lambda: hf.get_image_features(pixel_values=pixels, interpolate_pos_encoding=True)),
    ]
    errors = []
    for name, fn in attempts:
        try:
            fn()
            return None
        except (ValueError, TypeError) as e:
            errors.append(f"  {name}: {type(e).__name__}: {str(e).splitlines()[0][:150]}")
    return "\n".join(errors)


def autocast(device, enabled):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


class ModuleScopes:
    """Labels the forward of chosen submodules in the profiler trace (record_function ranges),
    so that the profile can say which part of the model the time goes to."""

    def __init__(self, modules):
        self.modules = modules  # [(label, module)]; several modules may share a label
        self.handles = []

    def __enter__(self):
        for name, module in self.modules:
            stack = []

            def pre(mod, args, name=name, stack=stack):
                rf = torch.profiler.record_function("part::" + name)
                rf.__enter__()
                stack.append(rf)

            def post(mod, args, output, stack=stack):
                stack.pop().__exit__(None, None, None)

            self.handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
