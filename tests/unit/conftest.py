"""Fixtures several unit test modules share."""
import pytest

from helo.synth.dmer import generate_dmer


@pytest.fixture(scope="session")
def raw_channel(tmp_path_factory):
    """The tiny raw DMER set with two extra EEG channels (A1, A2): ``(folder, truth)``."""
    out = tmp_path_factory.mktemp("dmer_raw_chan")
    truth = generate_dmer(out, layout="raw", preset="tiny", seed=3, progress=False,
                          return_signals=True, eeg_extra_channels=("A1", "A2"))
    return out, truth
