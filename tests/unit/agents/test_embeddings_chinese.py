"""The embedding model is a setting; Chinese text never meets a model that cannot read it.

A tiny random sentence-transformers model, built here with a vocabulary that either holds
Chinese characters or does not, exercises the real code path without any download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.classifier import CategorySpec, classify
from agents.embeddings import EmbeddingConfig, SentenceTransformerEmbedder, reads_text, shared_embedder

pytest.importorskip("sentence_transformers")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ASCII = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?")
CHINESE = list("路灯不亮道积水树木倒伏垃圾没人清运噪音扰民井盖缺失共享单车乱停放，。大倒了挡住")


def tiny_model(folder: Path, vocabulary: list[str]) -> Path:
    """A two-layer, 32-wide BERT with random weights, saved as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer, models  # type: ignore[attr-defined]
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    folder.mkdir(parents=True, exist_ok=True)
    tokens = list(dict.fromkeys(SPECIALS + vocabulary))
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(tokens)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(tokens), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    bert = folder / "bert"
    BertModel(config).save_pretrained(bert)
    tokenizer.save_pretrained(bert)
    transformer = models.Transformer(str(bert), max_seq_length=64)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    out = folder / "st"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    path = tiny_model(tmp_path_factory.mktemp("multi"), ASCII + CHINESE)
    return SentenceTransformerEmbedder.from_config(EmbeddingConfig(model_path=str(path), name="tiny-multi"))


@pytest.fixture(scope="module")
def english_only(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    path = tiny_model(tmp_path_factory.mktemp("english"), ASCII)
    return SentenceTransformerEmbedder(str(path))


def test_a_model_with_chinese_in_its_vocabulary_reads_chinese(multilingual: SentenceTransformerEmbedder) -> None:
    assert multilingual.name == "tiny-multi"
    assert multilingual.reads_cjk()
    assert reads_text(multilingual, "路灯不亮")
    vectors = multilingual.embed(["路灯不亮", "树木倒伏"])
    assert vectors.shape == (2, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_an_english_only_model_is_not_trusted_with_chinese(english_only: SentenceTransformerEmbedder) -> None:
    assert english_only.name == "st"  # the folder's name when none is given
    assert not english_only.reads_cjk()
    assert not reads_text(english_only, "路灯不亮了")
    assert reads_text(english_only, "the street light is out")


class Counting:
    """Wraps an embedder and counts the texts it is asked to embed."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.texts = inner, 0

    @property
    def name(self) -> str:
        return self.inner.name

    def reads_cjk(self) -> bool:
        return self.inner.reads_cjk()

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts)


CATEGORIES = [CategorySpec(code="ludeng", name="路灯不亮", description="路灯不亮"),
              CategorySpec(code="shumu", name="树木倒伏", description="树木倒伏")]


def test_chinese_text_skips_an_english_only_model(english_only: SentenceTransformerEmbedder) -> None:
    counting = Counting(english_only)
    result = classify(text="晚上一片漆黑", categories=CATEGORIES, chat=None, embedder=counting)  # type: ignore[arg-type]
    assert result.method == "fallback"
    assert counting.texts == 0


def test_chinese_text_uses_a_model_that_reads_it(multilingual: SentenceTransformerEmbedder) -> None:
    counting = Counting(multilingual)
    classify(text="晚上一片漆黑", categories=CATEGORIES, chat=None, embedder=counting)  # type: ignore[arg-type]
    assert counting.texts > 0


def test_the_shared_embedder_follows_its_configuration(tmp_path: Path) -> None:
    first = shared_embedder(EmbeddingConfig(model_path=str(tmp_path / "a")))
    assert shared_embedder() is first
    second = shared_embedder(EmbeddingConfig(model_path=str(tmp_path / "b")))
    assert second is not first and second.name == "b"
    shared_embedder(EmbeddingConfig())  # back to the default for the other tests
