"""preftree: a declarative build system for UltraInteract-style preference trees and Eurus-style models."""

__version__ = "0.1.0"
