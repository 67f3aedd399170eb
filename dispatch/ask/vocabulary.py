"""What the question parser knows of a city, read from its configuration."""

from __future__ import annotations

import threading

from agents.ask import AskVocabulary, LayerTerm, Term
from dispatch.city.config import CityConfig


def _words(code: str, name: str, names: dict[str, str], *more: list[str]) -> list[str]:
    words = [code.replace("_", " "), name, *names.values()]
    for extra in more:
        words.extend(extra)
    return list(dict.fromkeys(word for word in words if word.strip()))


def _labels(name: str, names: dict[str, str], language: str = "en") -> dict[str, str]:
    """The thing's label per language: its own name in the city file's language (a Chinese
    city's ``name`` is Chinese, its ``names.en`` English), the ``names:`` for the others."""
    return {"en": name, **names, language: name}


_CACHE: dict[int, tuple[CityConfig, AskVocabulary]] = {}
_LOCK = threading.Lock()


def vocabulary_of(city: CityConfig) -> AskVocabulary:
    """The city's vocabulary, built once per loaded city configuration."""
    with _LOCK:
        cached = _CACHE.get(id(city))
        if cached is not None and cached[0] is city:
            return cached[1]
    vocabulary = build_vocabulary(city)
    with _LOCK:
        if len(_CACHE) >= 16:
            _CACHE.clear()
        _CACHE[id(city)] = (city, vocabulary)
    return vocabulary


def build_vocabulary(city: CityConfig) -> AskVocabulary:
    """The city's categories, districts, agencies and layers with every word for each.

    The fallback category ("other") is a code only: its name would match "any other …".
    """
    own = city.city.language  # the language of the names in the city file
    categories = [
        Term(code=c.code, labels=_labels(c.name, c.names, own), description=c.description,
             words=[] if c.code == city.fallback_category
             else _words(c.code, c.name, c.names, c.synonyms, c.keywords))
        for c in city.categories]
    districts = [Term(code=d.code, labels=_labels(d.name, d.names, own),
                      words=_words(d.code, d.name, d.names, d.synonyms))
                 for d, _shape in city.district_shapes]
    agencies = [Term(code=a.code, labels=_labels(a.name, a.names, own), description=a.description,
                     words=_words(a.code, a.name, a.names, a.synonyms))
                for a in city.agencies]
    layers = [LayerTerm(code=layer.name, labels={"en": layer.label("en"), **layer.names},
                        default_radius_m=layer.default_radius_m,
                        words=_words(layer.name, layer.label("en"), layer.names, layer.synonyms,
                                     [n for place, _ in layer.places
                                      for n in (place.name, *place.names.values())]))
              for layer in city.layers]
    return AskVocabulary(categories=categories, districts=districts, agencies=agencies,
                         layers=layers, timezone=city.city.timezone)
