"""
Features layout: ``<root>/<n>.mat`` (``feas`` N x 913, ``vids``) with self-reports in
``<root>/<n>/`` (or ``<root>/``, named ``<n>_panas.csv`` ...). ``feas`` is split, in the order
the release stores it (:data:`FEATURE_BLOCKS`), into the FeatureBlocks ``eeg`` (90: the DE of the
18 :data:`EEG_CHANNELS` in the five bands delta..gamma, channel-major with the band varying
fastest), ``gsr`` (28) and ``ppg`` (27) (HeLo Table 6: 7 statistics of the signal, its first and
second difference, 6 of its spectrum; GSR + the 0-2 Hz Welch power) and ``video`` (the rest: 768
= LBP-TOP histograms XY | XT | YT of 256 bins, P = 8). The reader names none of them: each block
says which helo feature computation it is (``FeatureBlock.computed``), and the names come from
that feature module when the block is stored (``helo.features.block_names``): ``eeg_P3_delta``,
``eeg_P3_theta`` ..., ``gsr_median`` ... ``gsr_psd_0_2hz``, ``ppg_median`` ..., ``video_xy_000``
... ``video_yt_255`` -- exactly the names helo's extraction gives the same features computed from
the raw or aligned recordings, in the same column order (helo's EEG code is channel-major with
the band fastest too, and the physio and LBP-TOP codes use the release's order). A ``feas`` whose
video part is not 768 wide (another LBP-TOP or another descriptor) is accepted with a warning:
those columns are not helo's LBP-TOP, so they are stored as ``video__0``, ``video__1`` ...

"""
from __future__ import annotations

import numpy as np

from helo.data.base import DataError, FeatureBlock, ProblemCollector, Subject
from helo.data.dmer.mat import _clip_positions, _clips_without_report, _load_mat
from helo.data.dmer.protocol import EEG_CHANNELS
from helo.data.dmer.reader import _DmerReader, _nan_warning
from helo.data.dmer.reports import _find, _read_reports, _read_reports_flat

#: The features release's ``feas`` columns: modality -> (first, stop, what helo computation the
#: columns are, as ``FeatureBlock.computed`` params). Names are not given here: they come from
#: ``helo.features`` (one source). EEG: DE per channel and band, channel-major (band fastest),
#: which is helo's own EEG column order, so column j of the release is helo's column j; the band
#: *names* are those of helo's "paper" set (the "official" set has the same names; the edges do
#: not enter the names). GSR / PPG: helo.features.physio's Table-6 order. Video: LBP-TOP, P = 8,
#: XY | XT | YT; a ``feas`` wider or narrower than 913 has another video width (see the reader).
FEATURE_BLOCKS = {"eeg": (0, 90, {"channels": list(EEG_CHANNELS), "bands": "paper"}),
                  "gsr": (90, 118, {}), "ppg": (118, 145, {}),
                  "video": (145, 913, {"points": 8})}
N_SIGNAL_FEATURES = 145  # EEG 90 + GSR 28 + PPG 27; the video block is the rest of the row


class DmerFeaturesReader(_DmerReader):
    """The features DMER release: ``<root>/<n>.mat`` (``feas`` N x 913, ``vids``) with the
    self-report CSVs in ``<root>/<n>/`` (or ``<root>/``). The FeatureBlocks carry no names but
    say which helo computation they are (:data:`FEATURE_BLOCKS`); see the module doc."""

    layout = "dmer-features"

    def subjects(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted((p.stem for p in self.root.glob("*.mat") if p.stem.isdigit()), key=int)

    def _read(self, sid: str, mods: list[str], col: ProblemCollector, deep: bool) -> Subject:
        rep = self.root / sid
        if rep.is_dir() and _find(rep, [f"{sid}_panas.csv"], "*_panas.csv"):
            trials, _ = _read_reports(rep, sid, col)
        else:
            trials, _ = _read_reports_flat(self.root, sid, col)
        if not mods and not deep:
            return Subject(sid, trials, self.layout)
        path = self.root / f"{sid}.mat"
        try:
            mat = _load_mat(path, ["feas", "vids"], col)
        except DataError as err:
            col.add(err)
            return Subject(sid, trials, self.layout)
        if "feas" not in mat or "vids" not in mat:
            col.error("variables feas and vids are required", path)
            return Subject(sid, trials, self.layout)
        feas = np.asarray(mat["feas"], dtype=np.float64)
        vids = np.asarray(mat["vids"]).ravel()
        if feas.ndim == 2 and feas.shape[1] != 913 and (
                feas.shape[0] == 913 or (feas.shape[1] == vids.size != feas.shape[0])):
            feas = feas.T  # stored (913, N), or (width, N) with N = len(vids)
        if feas.ndim != 2 or feas.shape[1] <= N_SIGNAL_FEATURES:
            col.error(f"feas has shape {feas.shape}, expected (N, 913): EEG 90 + GSR 28 + "
                      f"PPG 27 + video 768 (another video width is accepted)", path)
            return Subject(sid, trials, self.layout)
        if vids.size != feas.shape[0]:
            col.error(f"vids has {vids.size} entries but feas has {feas.shape[0]} rows", path)
            return Subject(sid, trials, self.layout)
        blocks = dict(FEATURE_BLOCKS)
        n_video = feas.shape[1] - N_SIGNAL_FEATURES
        if feas.shape[1] != 913:
            col.warn(f"feas has {feas.shape[1]} columns, not 913: its video part has {n_video} "
                     f"features, not the 768 of LBP-TOP (P = 8); they are kept under their "
                     f"positions (stored as video__0 .. video__{n_video - 1})", path)
            blocks["video"] = (N_SIGNAL_FEATURES, feas.shape[1], None)
        if np.isnan(vids.astype(np.float64)).any():
            col.error("vids has NaN", path)
            return Subject(sid, trials, self.layout)
        vids = vids.astype(np.int64)
        _clips_without_report(vids, trials, "vids", path, col)
        for t, clip, rows in _clip_positions(trials, vids, "no feature rows for clip {clip}", path,
                                             col):
            block = feas[rows]
            _nan_warning(block, "features", clip, path, col)
            for m in mods:
                a, b, computed = blocks[m]
                if computed is None:  # not helo's computation: the column positions as names
                    t.features[m] = FeatureBlock(block[:, a:b].copy(),
                                                 [str(i) for i in range(b - a)])
                else:  # helo's names, given by helo.features when stored
                    t.features[m] = FeatureBlock(block[:, a:b].copy(), [],
                                                 computed={k: list(v) if isinstance(v, list) else v
                                                           for k, v in computed.items()})
        return Subject(sid, trials, self.layout)
