"""Document-level corpora: IMDB, the Zhang et al. (2015) sets (AG News, Yelp, DBpedia, Yahoo, Amazon), 20 Newsgroups."""

from __future__ import annotations

__all__: list[str] = []
