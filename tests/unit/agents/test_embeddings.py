import numpy as np
import pytest

from agents.classifier import CategorySpec, classify, classify_embedding
from agents.embeddings import cosine, label_scores
from tests.helpers.fakes import FakeChatModel, FakeEmbedder

VOCABULARY = ["tree", "oak", "branch", "water", "flood", "puddle", "paint", "wall", "bin"]
CATEGORIES = [
    CategorySpec(code="fallen_tree", name="Fallen tree", description="a tree or branch down",
                 keywords=["fallen tree"], examples=["oak lying on the road"]),
    CategorySpec(code="waterlogging", name="Waterlogging", description="water on the road",
                 keywords=["flooded"], examples=["flood water", "big puddle"]),
    CategorySpec(code="graffiti", name="Graffiti", description="paint on a wall"),
    CategorySpec(code="other", name="Other", description="anything else: tree water paint"),
]


def test_cosine_of_unit_vectors_and_of_zero() -> None:
    assert cosine([1.0, 0.0], [1.0, 0.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [0.0, 2.0]) == pytest.approx(0.0)
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0


def test_label_scores_take_each_labels_best_text_and_sort_best_first() -> None:
    embedder = FakeEmbedder(VOCABULARY)
    vector = embedder.embed(["oak"])[0]

    scores = label_scores(embedder, vector, [("a", ["water", "oak branch"]), ("b", ["oak"])])

    assert [s.label for s in scores] == ["b", "a"]
    assert scores[0].score == pytest.approx(1.0)
    assert scores[1].score == pytest.approx(1 / np.sqrt(2), abs=1e-3)


def test_category_vectors_are_embedded_once_per_embedder() -> None:
    embedder = FakeEmbedder(VOCABULARY)

    for text in ("the oak fell", "flood on the street", "oak again"):
        classify_embedding(embedder, text=text, categories=CATEGORIES)

    category_batches = [call for call in embedder.calls if len(call) > 1]
    assert len(category_batches) == 1
    assert len(embedder.calls) == 4  # one batch of category texts, one call per report


def test_paraphrase_without_keywords_is_decided_by_embedding_not_llm() -> None:
    embedder = FakeEmbedder(VOCABULARY)
    chat = FakeChatModel(replies=[])

    result = classify(text="An old oak is lying across the lane", categories=CATEGORIES,
                      chat=chat, embedder=embedder)

    assert (result.category, result.method, result.model) == ("fallen_tree", "embedding", "fake")
    assert result.confidence > 0.35
    assert chat.calls == []


def test_keywords_still_come_before_embeddings() -> None:
    embedder = FakeEmbedder(VOCABULARY)

    result = classify(text="A fallen tree next to a big puddle of flood water",
                      categories=CATEGORIES, chat=None, embedder=embedder)

    assert (result.category, result.method) == ("fallen_tree", "keywords")
    assert embedder.calls == []


def test_the_fallback_category_is_never_chosen_by_similarity() -> None:
    embedder = FakeEmbedder(VOCABULARY)

    match = classify_embedding(embedder, text="tree water paint", categories=CATEGORIES)

    assert match is not None and match[0] != "other"


def test_ambiguous_or_unrelated_text_goes_on_to_the_llm() -> None:
    embedder = FakeEmbedder(VOCABULARY)
    reply = '{"category": "graffiti", "confidence": 60}'
    chat = FakeChatModel(replies=[reply, reply])

    unrelated = classify(text="strange noise at night", categories=CATEGORIES, chat=chat,
                         embedder=embedder)
    tied = classify(text="oak in the water", categories=CATEGORIES, chat=chat, embedder=embedder)

    assert (unrelated.method, tied.method) == ("llm", "llm")
    assert len(chat.calls) == 2


def test_without_llm_an_undecided_text_falls_back() -> None:
    result = classify(text="strange noise at night", categories=CATEGORIES, chat=None,
                      embedder=FakeEmbedder(VOCABULARY))

    assert (result.category, result.method) == ("other", "fallback")
