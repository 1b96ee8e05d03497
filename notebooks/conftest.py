"""nbmake runs the notebooks here top to bottom, except those that
tests/ui/test_notebook_in_jupyterlab.py already runs with Run All in a real JupyterLab, to
their last cell and failing on any traceback (once is enough: each takes half a minute or
more)."""

collect_ignore = [
    "00_quickstart.ipynb",
    "01_metra_skills.ipynb",
    "02_hilp_zero_shot.ipynb",
    "environments_tour.ipynb",
]
