"""Torch-only code: device and RNG resolution, modules, sparse batching and the training loop.

Nothing here is public; estimators in the package reach torch only through this folder.
"""
