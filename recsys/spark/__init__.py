"""The Spark training engine: the same bundle, trained on Apache Spark (`--engine spark`).

Everything here imports ``pyspark`` only inside functions, so the package can be imported (and a
Spark-trained bundle served) without the ``[spark]`` extra. See ``docs/spark.md``.

* :mod:`recsys.spark.session` — the Spark session (``local[*]`` or a cluster URL, conf passthrough);
* :mod:`recsys.spark.cluster` — a standalone master and workers on 127.0.0.1 from the pip package;
* :mod:`recsys.spark.matrix` — events → weighted matrix in Spark SQL (the local trainer's rules);
* :mod:`recsys.spark.als` — ``ALS(implicitPrefs=True)`` and how its objective maps onto ours;
* :mod:`recsys.spark.text` — catalog text embedded on executors (with the embedding cache);
* :mod:`recsys.spark.lists` — every user's precomputed list ranked on executors;
* :mod:`recsys.spark.engine` — the engine the one training door (``recsys.training.train``) calls.
"""
