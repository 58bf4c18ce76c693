"""Search with metadata filters.

Every vector gets metadata (a year, a language, a score); searches take a
filter written as a dict in the MongoDB style, and return only vectors that
match it: k of them whenever k exist.

    python3 examples/filtered_search.py
"""
import numpy as np

import omendb
import datasets  # the examples' data helper

ds = datasets.load()
n, dim = ds.base.shape
rng = np.random.default_rng(0)
years = rng.integers(2000, 2025, n)
langs = rng.choice(["en", "fr", "de", "ja"], n, p=[0.5, 0.2, 0.2, 0.1])
scores = rng.random(n)

with omendb.open(":memory:") as db:  # a throw-away database
    docs = db.create_collection("docs", dim=dim)
    # Metadata as columns (one value per id); a list of dicts works too.
    docs.upsert(np.arange(n), ds.base,
                metadata={"year": years, "lang": langs.tolist(), "score": scores})

    q = ds.queries[0]
    filters = {
        "English since 2020": {"year": {"$gte": 2020}, "lang": "en"},
        "French or German, score below 0.1": {"lang": {"$in": ["fr", "de"]}, "score": {"$lt": 0.1}},
        "not English, before 2005": {"$not": {"lang": "en"}, "year": {"$lt": 2005}},
        "Japanese or from 2024": {"$or": [{"lang": "ja"}, {"year": 2024}]},
        "a few chosen ids": {"$id": {"$in": [1, 2, 3, 5, 8, 13, 21, 34]}},
    }
    for label, spec in filters.items():
        ids, distances = docs.search(q, k=5, filter=spec)
        rows = ids.astype(np.int64)
        print(f"{label}: {ids.tolist()}")
        for i in rows:
            print(f"    id {i}: year {years[i]}, lang {langs[i]}, score {scores[i]:.3f}")

    # A filter used many times can be parsed once.
    recent = omendb.Filter({"year": {"$gte": 2020}})
    ids, _ = docs.search(ds.queries[:20], k=10, filter=recent)
    assert (years[ids.astype(np.int64)] >= 2020).all()
    print(f"batch of 20 queries with {recent}: every result from 2020 or later")
    print("metadata of the first result:", docs.get(int(ids[0, 0])).metadata)
