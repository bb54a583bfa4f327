"""Pose data: the prepared on-disk format (:mod:`.format`), its converters
from the public data sets (:mod:`.h36m`, :mod:`.mpi3dhp`, and the built-in
demo set :mod:`.demo` made from the motion-capture clips read by
:mod:`.deepmimic`), and the sliding windows the model trains and is
evaluated on (:mod:`.loader`). Nothing is imported here: each module is
loaded when it is used, so that a command pays only for what it needs.
"""
