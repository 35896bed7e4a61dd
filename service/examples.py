"""Whole-request named examples of the POST routes, each with the answer it gets."""

EXAMPLES: dict = {}
