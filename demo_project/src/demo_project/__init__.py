"""Demo Project
"""

__version__ = "0.1"
