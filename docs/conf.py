"""Sphinx configuration for pyg-wj."""
import os
import sys

sys.path.insert(0, os.path.abspath('..'))

project = 'pyg-wj'
author = 'pyg-wj developers'
copyright = '2026, pyg-wj developers'
release = '0.1.0'

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.mathjax',
    # MathJax shipped with the docs: the pages render maths offline too
    'sphinx-mathjax-offline',
    'sphinx.ext.viewcode',
]
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_default_options = {'members': True, 'show-inheritance': False}
# Documentation builds must not need the optional plotting stack.
autodoc_mock_imports = ['tensorboard', 'fvcore']
napoleon_google_docstring = True
nitpicky = False

html_theme = 'pydata_sphinx_theme'
html_title = 'pyg-wj'
html_theme_options = {
    'navigation_with_keys': False,
    'show_toc_level': 2,
}
exclude_patterns = ['_build']
# the site is flat (one level of pages in the top bar): no empty left sidebar
html_sidebars = {'**': []}
