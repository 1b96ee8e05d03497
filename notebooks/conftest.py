"""nbmake runs the notebooks here top to bottom, except the tutorials that
tests/ui/test_notebook_in_jupyterlab.py already runs cell by cell in a real JupyterLab (once is
enough: each takes a minute or more)."""

collect_ignore = ["01_metra_skills.ipynb", "02_hilp_zero_shot.ipynb"]
