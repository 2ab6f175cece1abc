"""Image-to-image translation: paired/unpaired tasks, the exported translator, its commands and metrics.

The families (pix2pix, ...) live in gankit/models/; their data in gankit/data/paired.py and
gankit/data/tasks.py. Here: what a trained translator does with a user's images (translator.py:
evaluation mode, any size through overlapping tiles), colour spaces (color.py), inpainting masks
(masks.py), image files (imagefile.py), metrics beside their trivial baselines (metrics.py) and the
commands (cli.py).
"""
