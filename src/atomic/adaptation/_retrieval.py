"""Retrieval over a task's memory: TF-IDF cosine on hashed word 1–2-grams and character
3–5-grams, mixed with the cosine of a sentence encoder's embeddings when there is one.

With the local encoder (all-MiniLM-L6-v2) the query's intent is among the 4 nearest of 300
Banking77 test queries 94 % / 96 % of the time (10 / 40 examples per intent) against 84 % /
89 % for TF-IDF alone on the same queries. The mix (0.3 TF-IDF, 0.7 embedding) and the
embedding alone are within a point of each other (94 / 93 % at 10 per intent, 96 / 97 % at
40); the mix is kept because it also scores the exact terms (codes, names) that a sentence
encoder blurs. Without an encoder, TF-IDF alone:

On Banking77 (``benchmarks/retrieval.py``, 300 test queries against 10 or 40 train examples
per intent) word and character n-grams together put the query's intent among the 4 nearest
examples 81 % / 89 % of the time, words alone 73 % / 84 %, and mean-pooled hidden states of
the local LLMs 58–62 % at a few hundred times the cost per query: those models were not
trained to embed sentences, while character n-grams match inflections and typos
("arrived", "arival") that whole words miss.

Hashing keeps the index incremental (no vocabulary to refit as examples arrive); document
frequencies are recounted when the index is next searched after a change, which costs a few
milliseconds for thousands of examples. Texts are only vectorised when the index is first
searched: opening Atomic loads every remembered example, and most processes (``atomic runs``,
a worker of another task) never search that task's memory. ``benchmarks/retrieval.py``
compares this with embeddings from the local models on Banking77.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

    from atomic.encoders import SyncEncoder

__all__ = ["EMBEDDING_WEIGHT", "Analyzer", "LexicalIndex"]

Analyzer = Literal["word", "char_wb", "word+char"]
EMBEDDING_WEIGHT = 0.7
"""The embedding's share of a row's score when the index has an encoder (measured best on
Banking77, ``benchmarks/encoders.py``)."""


class LexicalIndex:
    """Examples by id, searchable by TF-IDF cosine similarity.

    >>> index = LexicalIndex()
    >>> index.add("a", "my card has not arrived")
    >>> index.add("b", "how do I change my PIN")
    >>> [hit for hit, _ in index.search("card not arrived yet", k=1)]
    ['a']
    """

    def __init__(
        self,
        analyzer: Analyzer = "word+char",
        n_features: int = 2**18,
        *,
        encoder: SyncEncoder | None = None,
        encoder_weight: float = EMBEDDING_WEIGHT,
    ) -> None:
        self.analyzer = analyzer
        self.n_features = n_features
        self.encoder = encoder
        """With an encoder, a row's score is ``(1 - encoder_weight)`` × its TF-IDF cosine
        plus ``encoder_weight`` × its embedding cosine."""
        self.encoder_weight = encoder_weight
        # Each row's text and, once searched with an encoder, its embedding (a prefix of the
        # rows: those added since are embedded in one batch at the next search).
        self._texts: list[str] = []
        self._embedded: np.ndarray | None = None
        self._vectorizers: list[Any] | None = None
        # Rows are weighted and stacked once, then appended to; a replaced or removed row is
        # only marked dead. Document frequencies are recounted, and every row reweighted, when
        # the index has grown by a tenth since: between, new rows use the last weights. A row
        # added since the last search holds its text until the search vectorises it.
        self._counts_rows: list[sp.csr_matrix | str] = []
        self._waiting: list[int] = []
        self._ids: list[str] = []
        self._where: dict[str, int] = {}
        self._dead: set[int] = set()
        self._weighted: sp.csr_matrix | None = None
        self._pending: list[int] = []
        self._idf: np.ndarray | None = None
        self._weighed_at = 0

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, item: object) -> bool:
        return item in self._where

    def _vectorizers_built(self) -> list[Any]:
        # scikit-learn and SciPy take a second to import: only an index that is searched needs them.
        if self._vectorizers is None:
            from sklearn.feature_extraction.text import HashingVectorizer

            self._vectorizers = []
            if self.analyzer in ("word", "word+char"):
                self._vectorizers.append(
                    HashingVectorizer(
                        ngram_range=(1, 2),
                        n_features=self.n_features,
                        alternate_sign=False,
                        norm=None,
                    )
                )
            if self.analyzer in ("char_wb", "word+char"):
                self._vectorizers.append(
                    HashingVectorizer(
                        analyzer="char_wb",
                        ngram_range=(3, 5),
                        n_features=self.n_features,
                        alternate_sign=False,
                        norm=None,
                    )
                )
        return self._vectorizers

    def _counts(self, texts: list[str]) -> sp.csr_matrix:
        import scipy.sparse as sp

        parts = [v.transform(texts) for v in self._vectorizers_built()]
        counts = sp.hstack(parts, format="csr") if len(parts) > 1 else parts[0].tocsr()
        counts.data = 1.0 + np.log(counts.data)  # sublinear term frequency
        return counts

    def add(self, item_id: str, text: str) -> None:
        """Index ``text`` under ``item_id`` (replacing what that id had)."""
        self.add_many([(item_id, text)])

    def add_many(self, items: list[tuple[str, str]]) -> None:
        for item_id, text in items:
            self.remove(item_id)
            self._where[item_id] = len(self._ids)
            self._pending.append(len(self._ids))
            self._waiting.append(len(self._ids))
            self._ids.append(item_id)
            self._counts_rows.append(text)
            self._texts.append(text)

    def _vectorise(self) -> None:
        """Replace the texts added since the last search by their counts, in one batch
        (hashing is stateless: a batch gives the rows one call per text would)."""
        if self._waiting:
            counts = self._counts([str(self._counts_rows[p]) for p in self._waiting])
            for i, p in enumerate(self._waiting):
                self._counts_rows[p] = counts[i]
            self._waiting = []

    def remove(self, item_id: str) -> None:
        position = self._where.pop(item_id, None)
        if position is not None:
            self._dead.add(position)

    def clear(self) -> None:
        self._counts_rows, self._ids, self._where, self._dead = [], [], {}, set()
        self._waiting, self._texts, self._embedded = [], [], None
        self._weighted, self._pending, self._idf, self._weighed_at = None, [], None, 0

    def _reweigh(self) -> None:
        import scipy.sparse as sp

        self._vectorise()
        keep = [p for p in range(len(self._ids)) if p not in self._dead]
        self._counts_rows = [self._counts_rows[p] for p in keep]
        self._ids = [self._ids[p] for p in keep]
        self._texts = [self._texts[p] for p in keep]
        if self._embedded is not None:
            self._embedded = self._embedded[[p for p in keep if p < len(self._embedded)]]
        self._where = {item_id: p for p, item_id in enumerate(self._ids)}
        self._dead, self._pending = set(), []
        counts = sp.vstack(self._counts_rows, format="csr")
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        n = counts.shape[0]
        self._idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        self._weighted = _normalise(counts.multiply(self._idf).tocsr())
        self._weighed_at = n

    def _matrix(self) -> sp.csr_matrix:
        import scipy.sparse as sp

        live = len(self._ids) - len(self._dead)
        if self._weighted is None or live > self._weighed_at * 1.1 or len(self._dead) * 3 > live:
            self._reweigh()
        elif self._pending:
            self._vectorise()
            rows = sp.vstack([self._counts_rows[p] for p in self._pending], format="csr")
            new = _normalise(rows.multiply(self._idf).tocsr())
            self._weighted = sp.vstack([self._weighted, new], format="csr")
            self._pending = []
        assert self._weighted is not None
        return self._weighted

    def search(self, text: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` most similar items, most similar first, with their cosine similarity."""
        if not self._where or k <= 0:
            return []
        matrix = self._matrix()
        query = _normalise(self._counts([text]).multiply(self._idf).tocsr())
        scores = (matrix @ query.T).toarray().ravel()
        if self.encoder is not None:
            embedded = self._embeddings(self.encoder)
            similar = embedded @ self.encoder.encode_sync([text])[0]
            scores = (1 - self.encoder_weight) * scores + self.encoder_weight * similar
        if self._dead:
            scores[list(self._dead)] = -1.0
        k = min(k, len(self._where))
        top = np.argpartition(-scores, k - 1)[:k]
        # Ties go to the later example: the newest of equally similar demonstrations.
        order = sorted(top, key=lambda j: (-scores[j], -j))
        return [(self._ids[j], float(scores[j])) for j in order]

    def _embeddings(self, encoder: SyncEncoder) -> np.ndarray:
        """Every row's embedding, the rows added since the last search embedded in one batch."""
        done = 0 if self._embedded is None else len(self._embedded)
        if done < len(self._texts):
            new = encoder.encode_sync(self._texts[done:])
            self._embedded = new if self._embedded is None else np.vstack([self._embedded, new])
        assert self._embedded is not None
        return self._embedded


def _normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    squared = matrix.multiply(matrix).sum(axis=1)
    norms = np.sqrt(np.asarray(squared).ravel())
    norms[norms == 0] = 1.0
    matrix = matrix.copy()
    matrix.data /= np.repeat(norms, np.diff(matrix.indptr))
    return matrix
