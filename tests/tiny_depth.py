"""Tiny random-weight transformers depth estimators in the real `save_pretrained` layout.

Built from configs (no download), saved as config.json + model.safetensors +
preprocessor_config.json, and loaded by kscript through the same `from_pretrained` path a
published Depth Anything or DPT checkpoint takes.
"""

from __future__ import annotations

from pathlib import Path


def _processor(size: int, multiple: int):
    from transformers import DPTImageProcessor

    return DPTImageProcessor(
        do_resize=True, size={"height": size, "width": size}, keep_aspect_ratio=True, ensure_multiple_of=multiple,
        do_normalize=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    )


def build_depth_anything(folder: Path, seed: int = 0) -> Path:
    """A Depth Anything (DINOv2 backbone) with 16-wide layers, 28x28 input."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)
    backbone = Dinov2Config(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, image_size=28,
        patch_size=14, out_features=["stage1", "stage2"], reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=16, neck_hidden_sizes=[8, 16], fusion_hidden_size=8,
        head_hidden_size=8, reassemble_factors=[2, 1], depth_estimation_type="relative",
    )
    DepthAnythingForDepthEstimation(config).eval().save_pretrained(folder)
    _processor(28, 14).save_pretrained(folder)
    return Path(folder)


def build_dpt(folder: Path, seed: int = 0) -> Path:
    """A DPT (ViT backbone) with 16-wide layers, 32x32 input."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation

    torch.manual_seed(seed)
    config = DPTConfig(
        hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=32,
        patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=8,
        head_in_index=-1, reassemble_factors=[4, 2, 1, 0.5],
    )
    DPTForDepthEstimation(config).eval().save_pretrained(folder)
    _processor(32, 32).save_pretrained(folder)
    return Path(folder)
