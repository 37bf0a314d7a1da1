"""selfsup: self-supervised representation learning across modalities.

Layers (imports flow one way):
``functional -> losses/modules -> methods -> train/eval -> cli``;
``augment``, ``encoders`` and ``data`` import nothing else from the library
(except the shared ``errors`` and ``config`` helpers).
"""

__version__ = "0.1.0"
