"""The helo flow's parameters (``prefect deployment run helo/full -p ...``) go into params.yaml
only when the result passes the schema, and the file keeps its comments."""
import shutil
from pathlib import Path

import pytest

from helo.orchestration.full import set_params
from helo.stages import params as P
from helo.stages.schema import ParamsError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def test_a_wrong_flow_parameter_leaves_params_yaml_untouched(project):
    before = (project / "params.yaml").read_bytes()
    with pytest.raises(ParamsError) as err:
        set_params.fn(str(project), {"data.layout": "dmer-rawx", "model.helo.epochs": 3})
    assert "data.layout" in str(err.value) and "dmer-rawx" in str(err.value)
    with pytest.raises(ParamsError):
        set_params.fn(str(project), {"evaluate.protocols": ["loso-typo"]})
    assert (project / "params.yaml").read_bytes() == before


def test_flow_parameters_are_written_with_the_comments_kept(project):
    before_text = (project / "params.yaml").read_text()
    before = P.load(project / "params.yaml")
    changed = set_params.fn(str(project), {"evaluate.protocols": ["loso"],
                                           "model.helo.epochs": 3, "data.root": None,
                                           "data.layout": before["data"]["layout"]})
    assert changed == {"evaluate.protocols": ["loso"], "model.helo.epochs": 3}
    after = P.load(project / "params.yaml")
    assert after["evaluate"]["protocols"] == ["loso"] and after["model"]["helo"]["epochs"] == 3
    after["evaluate"]["protocols"] = before["evaluate"]["protocols"]
    after["model"]["helo"]["epochs"] = before["model"]["helo"]["epochs"]
    assert after == before  # nothing else moved
    comments = [ln for ln in before_text.splitlines() if ln.lstrip().startswith("#")]
    text = (project / "params.yaml").read_text()
    assert comments and all(c in text for c in comments)
    assert set_params.fn(str(project), {"model.helo.epochs": 3}) == {}  # already so: no write
