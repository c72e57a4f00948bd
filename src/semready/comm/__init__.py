"""The semantic communication system of Fig. 1: the teacher's transmitter → link → the apprentice's receiver.

- :mod:`~semready.comm.language`    the semantic language L = (X_l,i → Z_i) built on the teacher's clusters
- :mod:`~semready.comm.complexity`  its complexity Γ̂ and a prequential code length
- :mod:`~semready.comm.entropy`     range-coded bitstreams of semantic representations (constriction)
- :mod:`~semready.comm.classical`   PNG / JPEG / WebP (Pillow) and zlib / lzma codecs, headers counted
- :mod:`~semready.comm.link`        packets, rate, erasures and bit errors with retransmission, time
- :mod:`~semready.comm.system`      transmitter, receiver and the three schemes (classical, vanilla, disentangled)
- :mod:`~semready.comm.kpi`         |Z_i|, semantic impact ι, PSNR: the paper's KPIs on real bitstreams
- :mod:`~semready.comm.simulate`    ``semready simulate``: the schemes on a run's stream -> kpis.json
"""
