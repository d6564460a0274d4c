"""``textclf vectors train``: Word2Vec and fastText vectors trained with gensim on your own text (docs/vectors.md).

:func:`train_vectors` reads its sources (:mod:`.sources`: text files, stdin, a corpus's training split or unlabelled
text), tokenises them once as the classifier does (:mod:`.corpus`), trains with progress lines (:mod:`.progress`)
and writes the vectors and their JSON sidecar together (:mod:`.output`); :mod:`.interrupt` makes SIGTERM and Ctrl-C
leave nothing behind. gensim is imported only when training starts.
"""

from textclf.vectors_training.train import TrainedVectors, VectorsSettings, train_vectors

__all__ = ["TrainedVectors", "VectorsSettings", "train_vectors"]
