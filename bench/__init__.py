"""`make bench`: what our gateway costs on top of the provider, and how it scales.

Run with `python -m bench` (see bench/run.py for the options).
"""
