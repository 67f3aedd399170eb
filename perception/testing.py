# mypy: disable-error-code="call-arg,arg-type,assignment"
# (transformers' config stubs do not list the keyword arguments its configs accept)
"""Tiny random-weight models, saved to a folder and loaded back through the real loaders.

Nothing here downloads: tokenizers come from tiny vocabularies written on the spot, model
configurations are built locally. The weights are random, so the detections mean nothing;
what these exercise is every real code path (preprocessing, batching, forward,
post-processing to pixel boxes and labels). Tests and ``--tiny`` runs use them.
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from perception.detectors.groundingdino_official import OfficialGroundingDino
    from perception.detectors.hf_groundingdino import HFGroundingDino
    from perception.detectors.hf_owlv2 import OwlDetector
    from perception.verify import ClipVerifier

TINY_IMAGE = 320
WEIGHT_SEED = 0
"""Every builder draws its random weights from this seed: a test that passes, always passes."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _fixed_weights(build: Callable[_P, _T]) -> Callable[_P, _T]:
    """Run ``build`` with torch's generator seeded, restoring the caller's generator after."""

    @functools.wraps(build)
    def seeded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(WEIGHT_SEED)
            return build(*args, **kwargs)

    return seeded
_BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-ins for the 256 byte values, in their usual order."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def clip_vocab() -> dict[str, int]:
    """Single-symbol BPE vocabulary: "!" is id 0 (OWL's padding), BOS and EOS come last.

    OWL treats a text query whose first id is 0 as padding, so BOS must be above 0; its
    text model pools at the highest id, so EOS must be the largest.
    """
    symbols = _byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def write_bert_vocab(folder: Path) -> Path:
    """A WordPiece vocabulary that spells any lower-case word letter by letter."""
    pieces = list(string.ascii_lowercase + string.digits + string.punctuation)
    words = ["a", "the", "of", "on", "tree", "street", "pothole", "car", "person", "bicycle", "garbage"]
    tokens = _BERT_SPECIALS + pieces + [f"##{p}" for p in string.ascii_lowercase + string.digits] + words
    unique = list(dict.fromkeys(tokens))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(unique) + "\n", encoding="utf-8")
    return path


@_fixed_weights
def build_tiny_owlv2(folder: Path, *, v2: bool = True, batch_size: int = 4) -> OwlDetector:
    """A 2-layer OWLv2 (or OWL-ViT with ``v2=False``) at 320×320, saved and loaded back."""
    from transformers import (
        CLIPTokenizer,
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        Owlv2Processor,
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessor,
        OwlViTProcessor,
    )

    from perception.detectors.hf_owlv2 import OwlDetector

    folder.mkdir(parents=True, exist_ok=True)
    vocab = clip_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], pad_token="!", model_max_length=16)
    text = dict(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
        pad_token_id=0,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=TINY_IMAGE,
        patch_size=32,
    )
    size = {"height": TINY_IMAGE, "width": TINY_IMAGE}
    if v2:
        model = Owlv2ForObjectDetection(
            Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)
        )
        processor = Owlv2Processor(image_processor=Owlv2ImageProcessor(size=size), tokenizer=tokenizer)
    else:
        model = OwlViTForObjectDetection(
            OwlViTConfig(text_config=text, vision_config=vision, projection_dim=32)
        )
        processor = OwlViTProcessor(
            image_processor=OwlViTImageProcessor(size=size, crop_size=size), tokenizer=tokenizer
        )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return OwlDetector.load(
        folder,
        name="owlv2-tiny" if v2 else "owlvit-tiny",
        device="cpu",
        dtype="float32",
        batch_size=batch_size,
    )


def bert_tokenizer(folder: Path) -> Any:
    """A ``BertTokenizer`` over the tiny vocabulary, written to ``folder/vocab.txt``."""
    from transformers import BertTokenizer

    lines = write_bert_vocab(folder).read_text(encoding="utf-8").splitlines()
    return BertTokenizer(vocab={token: index for index, token in enumerate(lines)})


def _tiny_bert_config(vocab_size: int) -> dict[str, int]:
    return dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )


@_fixed_weights
def build_tiny_hf_groundingdino(folder: Path, *, batch_size: int = 4) -> HFGroundingDino:
    """A GroundingDINO with a 4-stage Swin of width 16 and a 1-layer BERT, saved and loaded back."""
    from transformers import (
        BertConfig,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    from perception.detectors.hf_groundingdino import HFGroundingDino

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = bert_tokenizer(folder)
    backbone = SwinConfig(
        image_size=TINY_IMAGE,
        patch_size=4,
        embed_dim=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=5,
        out_features=["stage2", "stage3", "stage4"],
    )
    config = GroundingDinoConfig(
        backbone_config=backbone,
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone=None,
        text_config=BertConfig(**_tiny_bert_config(len(tokenizer))),
        d_model=32,
        num_queries=20,
        encoder_layers=1,
        decoder_layers=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_feature_levels=4,
    )
    size = {"shortest_edge": TINY_IMAGE // 2, "longest_edge": TINY_IMAGE}
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size=size), tokenizer=tokenizer
    )
    GroundingDinoForObjectDetection(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return HFGroundingDino.load(
        folder,
        name="hf-groundingdino-tiny",
        device="cpu",
        dtype="float32",
        batch_size=batch_size,
        text_threshold=0.0,
    )


TINY_OFFICIAL_OVERRIDES = """
# tiny random-weight variant (perception.testing): same architecture, small sizes
swin_overrides = dict(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=7)
enc_layers = 1
dec_layers = 2
dim_feedforward = 64
hidden_dim = 256  # the text enhancer hard-codes 256-wide position embeddings
nheads = 8
num_queries = 20
use_checkpoint = False
use_transformer_ckpt = False
"""


@_fixed_weights
def build_tiny_bert(folder: Path) -> Path:
    """A 1-layer BERT of width 32 with the tiny vocabulary, saved as a local model folder."""
    from transformers import BertConfig, BertModel

    tokenizer = bert_tokenizer(folder)
    BertModel(BertConfig(**_tiny_bert_config(len(tokenizer)))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@_fixed_weights
def build_tiny_official_groundingdino(folder: Path, *, batch_size: int = 4) -> OfficialGroundingDino:
    """The official GroundingDINO with a small Swin and a tiny local BERT, as a ``.py`` + ``.pth`` pair."""
    import groundingdino.config
    import torch

    from perception.detectors.groundingdino_official import OfficialGroundingDino, build_official_model

    folder.mkdir(parents=True, exist_ok=True)
    bert_dir = build_tiny_bert(folder / "bert")
    packaged = Path(groundingdino.config.__file__).parent / "GroundingDINO_SwinT_OGC.py"
    config_file = folder / "GroundingDINO_tiny.cfg.py"
    config_file.write_text(packaged.read_text(encoding="utf-8") + TINY_OFFICIAL_OVERRIDES, encoding="utf-8")
    checkpoint = folder / "groundingdino_tiny.pth"
    torch.save({"model": build_official_model(config_file, bert_dir).state_dict()}, checkpoint)
    return OfficialGroundingDino.load(
        config_file,
        checkpoint,
        bert_dir,
        name="groundingdino-tiny",
        device="cpu",
        dtype="float32",
        batch_size=batch_size,
        text_threshold=0.0,
        shortest_edge=TINY_IMAGE // 2,
        longest_edge=TINY_IMAGE,
    )


TINY_CLIP_ARCH = "cityloop-tiny-clip"
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@_fixed_weights
def build_tiny_clip(folder: Path) -> ClipVerifier:
    """A 1-layer open_clip ViT (width 32, 64×64 input) in the hub layout (``open_clip_config.json``)."""
    import open_clip
    import torch

    from perception.verify import ClipVerifier

    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / f"{TINY_CLIP_ARCH}.json"
    config_file.write_text(json.dumps(TINY_CLIP_CONFIG), encoding="utf-8")
    open_clip.add_model_config(config_file)
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP_CONFIG}), encoding="utf-8"
    )
    torch.save(open_clip.create_model(TINY_CLIP_ARCH).state_dict(), folder / "open_clip_pytorch_model.bin")
    return ClipVerifier.load(folder, name="clip-tiny", device="cpu", dtype="float32")
