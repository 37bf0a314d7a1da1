"""One file per method; importing this package registers them all.

| family | methods |
|---|---|
| contrastive | simclr |
"""

from selfsup.methods import simclr  # noqa: F401
from selfsup.methods.base import METHODS, DataInfo, MethodSpec, StepOutput, get_method, register_method

__all__ = ["METHODS", "DataInfo", "MethodSpec", "StepOutput", "get_method", "register_method"]
