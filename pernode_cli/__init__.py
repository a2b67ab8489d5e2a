"""pernode: benchmark stochastic regularizers and rank them like the PerNodeDrop paper.

Importing this package stays light: TensorFlow and Keras are imported only by the
modules that need them.
"""

__version__ = "0.1.0"
SCHEMA_VERSION = 4  # version of the training log's column layout
TIMING_SCHEMA_VERSION = 3  # version of the timing log's column layout
