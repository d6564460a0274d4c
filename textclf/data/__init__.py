"""Data modules: the shared base and custom corpora from files."""

from textclf.data.base import TextDataModule
from textclf.data.files import FileDataModule

__all__ = ["FileDataModule", "TextDataModule"]
