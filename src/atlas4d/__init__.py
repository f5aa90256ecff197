"""Atlas4D Gateway: a GraphQL federation gateway for 4D spatiotemporal data."""

__version__ = "0.1.0"
CORE_SPEC_VERSION = "0.3"
