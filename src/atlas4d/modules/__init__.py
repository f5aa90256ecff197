"""Modules: the contract (`Module`), discovery through entry points, MODULE.yaml, and our reference modules
(each a subpackage that could move to its own distribution; none imports another)."""

from atlas4d.modules.contract import Module, SeedSummary

__all__ = ["Module", "SeedSummary"]
