"""The communication system of Fig. 1: codecs (semantic and classical), the link, teacher and apprentice.

- :mod:`semready.comm.entropy`   range-coded bitstreams of semantic representations (constriction)
- :mod:`semready.comm.classical` PNG / JPEG / WebP (Pillow) and zlib / lzma codecs, headers counted
- :mod:`semready.comm.link`      packets, rate, erasures and bit errors with retransmission, time
- :mod:`semready.comm.system`    teacher, apprentice and the three schemes (classical, vanilla, disentangled)
"""
