"""Training: run configurations, the shared Keras callbacks, inputs, evaluation, the
environment stamp and the epoch-time runner of `timeit`.

This package's ``__init__`` imports no Keras; its modules do (import them where needed).
"""
