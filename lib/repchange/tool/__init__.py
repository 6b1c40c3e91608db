"""The tool for your own models, on ``repchange.base``, ``.data`` and ``.measure`` only: what the light install (``pip install .``) serves.

``tool.track.Tracker`` follows a model while it trains; ``tool.layer_matrix.layer_matrix`` compares any two models
layer by layer; ``tool.compare.compare`` (``repchange compare``) two checkpoints. See the book's chapter "Your own
model" and its reference page.
"""
