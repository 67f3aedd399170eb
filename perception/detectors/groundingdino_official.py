"""The official GroundingDINO (``groundingdino-py``) as a ``Detector``, with our own post-processing.

The model is built from its SLConfig-style ``.py`` configuration and a ``.pth`` checkpoint;
``text_encoder_type`` is pointed at a local BERT folder, so nothing is downloaded.

``groundingdino-py`` 0.4.0 wraps BERT with helpers that ``transformers`` 5 removed
(``get_head_mask``, ``get_extended_attention_mask``); while the model is built, its
``BertModelWarper`` is replaced by :class:`BertEncoder`, which keeps the same parameter
names (``bert.embeddings``, ``bert.encoder``, ``bert.pooler``) so official checkpoints load.
A configuration may set ``swin_overrides`` (``embed_dim``, ``depths``, ``num_heads``,
``window_size``) to build a smaller Swin than the named one (the tiny test models do).
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
import torch
import torch.nn.functional as F
from torch import nn

from perception.detectors import postprocess as pp
from perception.detectors.runtime import (
    DType,
    batches,
    check_frames,
    require_files,
    resolve_device,
    resolve_dtype,
    writable,
)
from perception.types import Prompt, WeightsMissing

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


class BertEncoder(nn.Module):
    """BERT for GroundingDINO's text branch on ``transformers`` 5: a 3-D self-attention mask in."""

    def __init__(self, bert_model: nn.Module) -> None:
        super().__init__()
        self.config = bert_model.config
        self.embeddings = bert_model.embeddings
        self.encoder = bert_model.encoder
        self.pooler = bert_model.pooler
        object.__setattr__(self, "_bert", bert_model)  # shares the modules above, not registered twice

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        mask = attention_mask.bool()
        if mask.dim() == 3:  # [B, L, L] sub-sentence mask → [B, 1, L, L]
            mask = mask[:, None, :, :]
        output = self._bert(  # type: ignore[operator]  # set with object.__setattr__ above
            input_ids=input_ids, attention_mask=mask, token_type_ids=token_type_ids, position_ids=position_ids
        )
        return {"last_hidden_state": output.last_hidden_state}


@contextlib.contextmanager
def _compatible_build(swin_overrides: dict[str, Any] | None) -> Iterator[None]:
    """Swap in :class:`BertEncoder` (and a resized Swin) while ``build_model`` runs."""
    import groundingdino.models.GroundingDINO.backbone.backbone as backbone_module
    import groundingdino.models.GroundingDINO.groundingdino as model_module

    saved = model_module.BertModelWarper, backbone_module.build_swin_transformer
    model_module.BertModelWarper = lambda bert_model: BertEncoder(bert_model)
    if swin_overrides:
        backbone_module.build_swin_transformer = functools.partial(saved[1], **swin_overrides)
    try:
        yield
    finally:
        model_module.BertModelWarper, backbone_module.build_swin_transformer = saved


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # the released .pth pickles more than tensors
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    return {k.removeprefix("module."): v for k, v in state.items()}


@contextlib.contextmanager
def _quiet_library() -> Iterator[None]:
    """groundingdino-py warns on import and in forward about APIs of its 2023 dependencies."""
    with warnings.catch_warnings():
        for category in (UserWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"(groundingdino|timm|torch)(\.|$)")
        yield


def _resolve_files(
    name: str, path: Path, checkpoint: Path | None, bert_dir: Path | None
) -> tuple[Path, Path, Path]:
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        configs = sorted(path.glob("*.py"))
        if len(configs) != 1:
            raise WeightsMissing(
                name,
                str(path / "GroundingDINO_SwinT_OGC.cfg.py"),
                hint=f"expected one *.py config there, found {len(configs)}",
            )
        config_file = configs[0]
    else:
        config_file = path
    if checkpoint is None:
        checkpoints = sorted(folder.glob("*.pth"))
        if len(checkpoints) != 1:
            raise WeightsMissing(
                name,
                str(folder / "groundingdino_swint_ogc.pth"),
                hint=f"expected one *.pth checkpoint there, found {len(checkpoints)}",
            )
        checkpoint = checkpoints[0]
    if bert_dir is None:
        bert_dir = folder / "bert" if (folder / "bert").is_dir() else folder.parent / "bert-base-uncased"
    return config_file, checkpoint, bert_dir


def build_official_model(config_file: Path, bert_dir: Path) -> Any:
    """The model described by ``config_file`` with random weights, its text encoder from ``bert_dir``."""
    with _quiet_library():
        from groundingdino.models import build_model
        from groundingdino.util.slconfig import SLConfig

    args = SLConfig.fromfile(str(config_file))
    args.text_encoder_type = str(bert_dir)
    args.use_checkpoint = args.use_transformer_ckpt = False  # activation checkpointing is for training
    args.device = "cpu"
    swin_overrides = args._cfg_dict.to_dict().get("swin_overrides")
    with _compatible_build(swin_overrides), contextlib.redirect_stdout(None), _quiet_library():
        return build_model(args)


class OfficialGroundingDino:
    """The official GroundingDINO; labels and thresholds as in :class:`HFGroundingDino`."""

    def __init__(
        self,
        model: Any,
        *,
        name: str = "groundingdino",
        batch_size: int = 4,
        text_threshold: float = 0.25,
        nms_iou: float | None = 0.5,
        shortest_edge: int = 800,
        longest_edge: int = 1333,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: {batch_size} must be 1 or more")
        if not 0.0 <= text_threshold <= 1.0:
            raise ValueError(f"text_threshold: {text_threshold} is outside 0..1")
        self.model, self.name, self.batch_size = model.eval(), name, batch_size
        self.text_threshold, self.nms_iou = text_threshold, nms_iou
        self.shortest_edge, self.longest_edge = shortest_edge, longest_edge
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype

    @classmethod
    def load(
        cls,
        path: Path,
        checkpoint: Path | None = None,
        bert_dir: Path | None = None,
        *,
        name: str = "groundingdino",
        device: str = "auto",
        dtype: DType = "auto",
        **options: Any,
    ) -> OfficialGroundingDino:
        """Build from the ``.py`` config, load the ``.pth``; ``WeightsMissing`` names a missing file.

        ``path`` is the config file, or a folder holding one ``*.py`` config and one ``*.pth``;
        ``bert_dir`` defaults to ``bert/`` inside that folder, else ``bert-base-uncased/`` beside
        it (the layout ``cityloop models pull`` makes).
        """
        config_file, checkpoint, bert_dir = _resolve_files(name, path, checkpoint, bert_dir)
        require_files(name, config_file.parent, (config_file.name,))
        require_files(name, checkpoint.parent, (checkpoint.name,))
        require_files(
            name,
            bert_dir,
            ("config.json", ("vocab.txt", "tokenizer.json"), ("model.safetensors", "pytorch_model.bin")),
        )
        model = build_official_model(config_file, bert_dir)
        result = model.load_state_dict(_read_checkpoint(checkpoint), strict=False)
        missing = [k for k in result.missing_keys if not k.startswith("bert.")]
        if missing:
            raise ValueError(
                f"{checkpoint}: {len(missing)} weights of the model are not in the checkpoint, "
                f"e.g. {missing[:3]}"
            )
        torch_device = resolve_device(device)
        return cls(model.to(torch_device, resolve_dtype(dtype, torch_device)), name=name, **options)

    def detect(self, frames: Sequence[np.ndarray], prompts: Sequence[Prompt]) -> list[sv.Detections]:
        check_frames(frames)
        caption = pp.build_caption(prompts)
        thresholds = pp.thresholds_of(prompts)
        encoded = self.model.tokenizer(caption.text, return_offsets_mapping=True)
        pos_map = pp.positive_map(
            [tuple(o) for o in encoded["offset_mapping"]], caption.spans, self.model.max_text_len
        )
        results: list[sv.Detections] = []
        for part in batches(len(frames), self.batch_size):
            chunk = writable(frames[part])
            logits, boxes = self.forward(chunk, caption.text)
            for frame, frame_logits, frame_boxes in zip(chunk, logits, boxes, strict=True):
                height, width = frame.shape[:2]
                rows, class_id, confidence = pp.grounding_select(
                    frame_logits, pos_map, thresholds, self.text_threshold
                )
                xyxy = pp.to_pixels(pp.cxcywh_to_xyxy(frame_boxes[rows]), width, height, width, height)
                results.append(pp.make_detections(xyxy, confidence, class_id, prompts, self.nms_iou))
        return results

    def preprocess(self, frame: np.ndarray) -> torch.Tensor:
        """Resize (shorter side to ``shortest_edge``, longer at most ``longest_edge``) and normalise."""
        height, width = frame.shape[:2]
        scale = min(self.shortest_edge / min(height, width), self.longest_edge / max(height, width))
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        image = (
            torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).permute(2, 0, 1)[None].float()
            / 255.0
        )
        image = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        mean = torch.tensor(IMAGE_MEAN, device=self.device)[:, None, None]
        std = torch.tensor(IMAGE_STD, device=self.device)[:, None, None]
        return ((image - mean) / std).to(self.dtype)

    @torch.inference_mode()
    def forward(self, frames: list[np.ndarray], caption: str) -> tuple[np.ndarray, np.ndarray]:
        """``(logits [B, queries, 256], boxes [B, queries, 4] normalised cxcywh)`` for a batch."""
        from groundingdino.util.misc import nested_tensor_from_tensor_list

        samples = nested_tensor_from_tensor_list([self.preprocess(f) for f in frames])
        with _quiet_library():
            outputs = self.model(samples, captions=[caption] * len(frames))
        return outputs["pred_logits"].float().cpu().numpy(), outputs["pred_boxes"].float().cpu().numpy()
