"""The schema of ``params.yaml``: one validation before any stage does work.

:func:`validate` checks the whole parameter tree (after ``-S`` overrides) and raises one
:class:`ParamsError` (a ``ValueError``) that lists every problem, each naming the dotted key, what
was found and what is allowed -- unknown keys, wrong types, unknown layouts, modalities, methods,
protocols, EEG band sets -- instead of a run in which every subject fails, or a traceback.

Names come from the registries, not from this file: layouts from :data:`helo.data.LAYOUTS`,
modalities from :data:`helo.features.MODALITIES`, methods from
:data:`helo.model.registry.METHODS`, protocols from :data:`helo.evaluation.splits.PROTOCOLS`, PANAS
item sets from :data:`helo.data.labels.ITEM_SETS`. A new entry there is valid here at once.

Reading: :func:`helo.stages.params.load_config` (params.yaml, ``-S`` overrides) returns the
validated :class:`Params`, and every stage, flow and command reads attributes of it
(``cfg.evaluate.test_fraction``); a default lives here, once. A misspelt attribute raises
``AttributeError``. Two groups are keyword options handed on as given, not typed values: a
learner's ``model.<method>`` (:meth:`Params.method_options`) and an extractor's
``features.common`` + ``features.<modality>`` (:meth:`Features.for_modality`); a key they
leave out takes the learner's or the extractor's own default.

Extending: each params group is one pydantic model below (``extra="forbid"``: an unknown key is
an error naming the allowed ones). A new key is one annotated field with its default; a new
group one model and one field of :class:`Params` (and its readers in
``helo.orchestration.codedeps.READS``). Model options (``model.<method>``) are each checked
against the keys their learner accepts, :data:`METHOD_OPTIONS` (a static table, so that checking
them imports no learner and no PyTorch; a test keeps it equal to the learners' own); ``modalities``
(the ablations' subsets) must be known modalities, and HeLo's common numeric options are
type-checked. A method's ``by_protocol.<protocol>`` block (settings for one protocol, laid over
the shared ones; see :meth:`Params.method_options`) is checked the same way, its keys protocol
names. Keys are optional here (a ``helo predict`` needs few); the stages that use one say
when it is missing.

Code digests: the models of the groups a stage reads join that stage's code digest
(:mod:`helo.orchestration.codedeps`), so changing a default here re-runs exactly the stages that
read its group; the checks below (which can only refuse a run) are in no digest.

Modality names: with ``data.layout: generic`` a table brings its own modalities (``hrv``,
``eye``), so ``features.modalities`` and the ``assemble`` groups accept any identifier there;
every other layout takes the modalities helo extracts (:data:`helo.features.MODALITIES`).

Numbers: every number anywhere in the tree (typed fields, ``model.<method>`` options, band
edges) must be finite -- YAML's ``.inf`` / ``.nan`` are refused naming the key, since an infinite
learning rate trains a model of NaN. Counts that set how long something runs (``epochs``,
``patience``, ``max_iterations``, ``ot_iter``, ``tune.trials``, ``evaluate.seeds``) are whole
numbers with an upper bound said in the error (:data:`MAX_EPOCHS`, :data:`MAX_ITERATIONS`,
:data:`MAX_RUNS`); a float with no fraction (``1.0e+3``) counts as the whole number, text such as
``1e20`` (YAML 1.1 reads an exponent without a dot as a string) is refused as text.

"""
from __future__ import annotations

import copy
import math
import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from helo.data import LAYOUTS
from helo.data.labels import ITEM_SETS
from helo.evaluation.splits import PROTOCOLS
from helo.features import MODALITIES
from helo.model.registry import METHODS
from helo.stages.method_options import METHOD_OPTIONS

__all__ = ["validate", "as_params", "ParamsError", "Params", "METHOD_OPTIONS", "check_modality"]

Number = Union[int, float]

#: the key of a method's per-protocol settings: ``model.<method>.by_protocol.<protocol>``
BY_PROTOCOL = "by_protocol"

#: upper bounds of the counts that set how long a run takes (said in the error)
MAX_EPOCHS = 100_000
MAX_ITERATIONS = 1_000_000
MAX_RUNS = 10_000  # tune trials, evaluation seeds


def _whole(v):
    """A count given as a float with no fraction (``1.0e+3``) is that whole number; text that
    reads as a number (``1e20``: YAML 1.1 needs ``1.0e+20``) is refused as text."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", v):
        raise ValueError(f"{v!r} is text, not a number (YAML reads an exponent without a dot "
                         f"as text); write a whole number")
    return v


def Count(limit: int, low: int = 0):
    """A whole number in ``[low, limit]``."""
    return Annotated[int, BeforeValidator(_whole), Field(ge=low, le=limit)]


class ParamsError(ValueError):
    """params.yaml does not fit the schema; the message lists every problem by dotted key."""

    def __init__(self, problems: list[str], source: str = "params.yaml"):
        self.problems = list(problems)
        super().__init__(f"{source}: {len(problems)} problem(s): " + "; ".join(problems))


def _one_of(value, allowed, what: str):
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(map(str, allowed))}")
    return value


def _modality(v):
    return _one_of(v, list(MODALITIES), "modality")


def _identifier(v):
    import re
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", v):
        raise ValueError(f"modality name {v!r} is not an identifier (letters, digits, _ and -)")
    return v


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# --------------------------------------------------------------------------------- groups

class LabelRule(_Group):
    """``data.label_rule``: the parameters of a label-enhancement rule (``data.labels:
    circumplex | gaussian``; :mod:`helo.data.label_rules`)."""

    scale: tuple[float, float] = (1.0, 9.0)  # the rating scale's ends (DEAP 1-9, DREAMER 1-5)
    kappa: float = Field(3.0, gt=0)  # circumplex: how peaked
    sigma: float = Field(1.0, gt=0)  # gaussian: spread in scale points
    dimension: str = "valence"  # gaussian: which rating

    @field_validator("scale")
    @classmethod
    def _scale(cls, v):
        if not v[0] < v[1]:
            raise ValueError(f"a rating scale runs from low to high, not {list(v)}")
        return v

class Events(_Group):
    """``data.events`` (BIDS only): which events are trials, how long a trial lasts, what it is
    called (:mod:`helo.data.bids.events`)."""

    trial_types: Optional[list[str]] = None  # None: every event with a self-report
    duration_s: Optional[float] = Field(None, gt=0)  # None: the file's durations
    ids: Literal["trial", "numbered"] = "trial"

    @field_validator("duration_s", mode="before")
    @classmethod
    def _seconds(cls, v):
        if isinstance(v, (bool, str)):  # YAML's yes/no, or a number written as text
            raise ValueError(f"a number of seconds, not {type(v).__name__} {v!r}")
        return v

    @field_validator("trial_types")
    @classmethod
    def _trial_types(cls, v):
        if v is None:
            return v
        if not v:
            raise ValueError("an empty list selects no trial; give trial_type names, or null "
                             "for every event with a self-report")
        bad = [t for t in v if not t.strip() or t != t.strip()]
        if bad:
            raise ValueError(f"trial_type names are non-empty, without surrounding spaces: "
                             f"{bad}")
        twice = sorted({t for t in v if v.count(t) > 1})
        if twice:
            raise ValueError(f"trial_types lists {twice} more than once")
        return v

    def is_default(self) -> bool:
        return self == Events()


class Data(_Group):
    name: str = "dataset"
    layout: Optional[str] = None
    root: Optional[str] = None
    items: Union[str, list[str]] = "dmer"
    labels: Literal["auto", "panas", "distribution", "scores", "circumplex", "gaussian"] = "auto"
    label_rule: LabelRule = LabelRule()
    # every distribution mixed with the uniform: (1 - e) d + e / L (helo.data.labels)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    task: Optional[str] = None  # bids: read only this task
    events: Events = Events()  # bids: which events are trials

    @field_validator("task")
    @classmethod
    def _task(cls, v):
        if v is not None and not re.fullmatch(r"[A-Za-z0-9]+", v):
            raise ValueError(f"a BIDS task label is letters and digits only, not {v!r}")
        return v

    @field_validator("layout")
    @classmethod
    def _layout(cls, v):
        return v if v is None else _one_of(v, sorted(LAYOUTS), "layout")

    @field_validator("items")
    @classmethod
    def _items(cls, v):
        if isinstance(v, str):
            _one_of(v, sorted(ITEM_SETS), "PANAS item set (or give a list of item names)")
        return v


class Synth(_Group):
    preset: str = "default"
    seed: int = 0


class Common(_Group):
    step_s: float = Field(1.0, gt=0)
    longest_window_s: float = Field(5.0, gt=0)


class _Modality(_Group):
    window_s: Optional[float] = Field(None, gt=0)


class Eeg(_Modality):
    bands: Any = "paper"  # paper | official | {name: [lo, hi]} | [[lo, hi], ...]
    method: Literal["gaussian", "spectral"] = "gaussian"
    resample: Optional[Number] = None
    nfft: int = Field(1024, gt=0)
    l_trans_bandwidth: Union[Number, Literal["auto"], None] = "auto"
    h_trans_bandwidth: Union[Number, Literal["auto"], None] = "auto"
    filter: Literal["fft", "mne"] = "fft"
    transition_hz: Number = Field(1.0, ge=0)
    # LDS smoothing of a trial's windows (helo.features.lds): none | lds | lds-filter
    smooth: Literal["none", "lds", "lds-filter"] = "none"
    lds_process_var: Number = Field(1e-4, gt=0)
    lds_observation_var: Number = Field(1.0, gt=0)
    lds_prior_var: Number = Field(0.01, gt=0)

    @field_validator("bands")
    @classmethod
    def _bands(cls, v):
        allowed = "allowed: paper, official, {name: [low, high]} or [[low, high], ...] in Hz"
        if isinstance(v, str):
            return _one_of(v, ["paper", "official"], "band set")
        if not isinstance(v, (dict, list)) or not v:
            raise ValueError(f"not a band set; {allowed}")
        for p in (v.values() if isinstance(v, dict) else v):
            ok = isinstance(p, (list, tuple)) and len(p) == 2 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in p)
            if ok and not all(math.isfinite(x) for x in p):
                continue  # said by validate() as a non-finite number
            if not ok or not 0 <= p[0] < p[1]:
                raise ValueError(f"band {p!r} is not [low, high] with 0 <= low < high; {allowed}")
        return v


class Video(_Modality):
    face_size: int = Field(128, gt=0)
    detect_every: int = Field(1, ge=1)
    detect_width: Optional[int] = Field(320, ge=0)  # null / 0: full frame
    points: int = Field(8, gt=0)
    radius: Number = Field(1, gt=0)
    time_radius: int = Field(1, ge=1)
    per_trial: bool = False
    lbp_ties: Literal["skimage", "up"] = "skimage"
    lbp_engine: Literal["auto", "jit", "numpy"] = "auto"
    detector: Literal["mtcnn", "haar"] = "mtcnn"  # helo.features.face.DETECTORS
    min_face: Optional[int] = Field(None, gt=0)
    redetect_every: int = Field(10, ge=1)  # mtcnn: full search every k-th attempt (1: no tracking)


class Ecg(_Modality):
    context_s: Optional[float] = Field(None, gt=0)
    # NeuroKit2's Kubios R-peak correction (helo.features.ecg); strict: handed on as given, so
    # the text "false" must not pass as a boolean
    correct_artifacts: StrictBool = True


class Ppg(_Modality):
    # + 5 pulse-rate features from the systolic peaks (helo.features.ppg); left out: off, the
    # paper's 27 (what the DMER features releases hold); params.yaml turns it on
    cardiac: StrictBool = False


class Eda(_Modality):
    work_fs: Number = Field(50, gt=0)


class Features(BaseModel):
    # features.<modality>: checked in _groups
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    modalities: list[str] = []
    common: Common = Common()

    _validate_modalities = field_validator("modalities")(
        classmethod(lambda cls, v: [_identifier(m) for m in v]))  # known ones: _cross_checks

    #: the group as params.yaml gives it (what :meth:`for_modality` hands on)
    _given: dict = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _groups(self):
        for key in self.model_extra or {}:  # a generic table's own modality may have a group
            _one_of(key, ["common", "modalities", *MODALITIES, *self.modalities],
                    "features group")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _keep_given(cls, data, handler):
        parsed = handler(data)
        if isinstance(data, dict):
            parsed._given = copy.deepcopy(data)
        return parsed

    def for_modality(self, modality: str) -> dict:
        """The extraction options of ``modality``: ``features.common`` merged with
        ``features.<modality>`` (the modality's own win), keys and values as params.yaml gives
        them. They are the extractor's keyword options (what the ``feature-params`` stage writes
        and ``extract@<modality>`` hashes), so a key left out takes the extractor's default."""
        common = self._given.get("common") or {}
        own = self._given.get(modality) or {}
        return {**copy.deepcopy(common), **copy.deepcopy(own)}


#: features.<modality> -> its model (a modality without options of its own: the base)
MODALITY_GROUPS: dict[str, type[_Group]] = {"eeg": Eeg, "video": Video, "ecg": Ecg, "eda": Eda,
                                            "ppg": Ppg}


class Assemble(_Group):
    physiological: list[str] = []
    behavioural: list[str] = []
    nan_policy: Literal["drop", "zero"] = "drop"

    _mods = field_validator("physiological", "behavioural")(
        classmethod(lambda cls, v: [_identifier(m) for m in v]))  # known ones: _cross_checks


class Evaluate(_Group):
    protocols: list[str] = []
    methods: list[str] = []
    seed: int = 0
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.0, ge=0, lt=1)
    normalise: Literal["fold", "subject"] = "fold"
    seeds: Union[None, int, list[int]] = None  # null: [seed]; N: seed..seed+N-1; a list
    stack: Union[Literal["auto"], int] = "auto"
    compile: bool = False
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    amp: bool = False  # shorthand for precision: bf16

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, int) and not 1 <= v <= MAX_RUNS:
            raise ValueError(f"a count of seeds must be at least 1 and at most {MAX_RUNS}")
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("a list of seeds must be non-empty and distinct")
        return v

    @field_validator("stack")
    @classmethod
    def _stack(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError("stack must be auto or a positive integer")
        return v

    @field_validator("protocols")
    @classmethod
    def _protocols(cls, v):
        return [_one_of(p, list(PROTOCOLS), "protocol") for p in v]

    @field_validator("methods")
    @classmethod
    def _methods(cls, v):
        return [_one_of(m, list(METHODS), "method") for m in v]


class MethodOptions(BaseModel):
    """``model.<method>``: open (each learner's own options), with the shared ones typed."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    modalities: Optional[list[str]] = None
    epochs: Optional[Count(MAX_EPOCHS)] = None
    patience: Optional[Count(MAX_EPOCHS)] = None
    max_iterations: Optional[Count(MAX_ITERATIONS)] = None
    max_iter: Optional[Count(MAX_ITERATIONS)] = None
    batch_size: Optional[int] = Field(None, gt=0)
    lr: Optional[float] = Field(None, gt=0)
    weight_decay: Optional[float] = Field(None, ge=0)
    device: Optional[str] = None
    dropout: Optional[float] = Field(None, ge=0, lt=1)

    @field_validator("modalities")
    @classmethod
    def _mods(cls, v):
        return None if v is None else [_modality(m) for m in v]


class HeloOptions(MethodOptions):
    query: Optional[str] = None
    d: Optional[int] = Field(None, gt=0)
    tokens: Optional[int] = Field(None, gt=0)
    heads: Optional[int] = Field(None, gt=0)
    depth: Optional[int] = Field(None, ge=0)
    tokenizer: Optional[Literal["linear", "channels"]] = None
    ot_iter: Optional[Count(MAX_ITERATIONS, 1)] = None
    ot_eps: Optional[float] = Field(None, gt=0)
    sinkhorn: Optional[Literal["scaling", "implicit", "log"]] = None  # othm.SINKHORN_METHODS

    @field_validator("query")
    @classmethod
    def _query(cls, v):
        return None if v is None else _modality(v)


class Report(_Group):
    figure_samples: int = Field(6, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    zero_method: Literal["wilcox", "pratt", "zsplit"] = "wilcox"
    cd_metric: str = "kl"
    paper_reference: Literal["auto", "always", "never"] = "auto"
    #: where a method's untuned settings come from, said in the report's settings section
    settings_notes: dict[str, str] = {}

    @field_validator("settings_notes")
    @classmethod
    def _notes(cls, v):
        for m in v:
            _one_of(m, list(METHODS), "method")
        return v


class Tune(_Group):
    trials: Count(MAX_RUNS, 1) = 10
    timeout: Optional[float] = Field(None, gt=0)
    outer_folds: Optional[int] = Field(4, ge=1)
    val_fraction: float = Field(0.25, gt=0, lt=1)
    inner_split: Literal["mirror", "grouped"] = "mirror"
    seed: int = 0


class Orchestrator(_Group):
    engine: Literal["local", "auto", "prefect"] = "local"
    # executors.KINDS
    task_runner: Literal["serial", "threads", "processes", "dask", "ray"] = "processes"
    workers: int = Field(2, ge=1)
    address: Optional[str] = None
    warm: bool = True
    allow_partial: bool = False


class Params(_Group):
    """The whole of params.yaml, validated, every default filled in."""

    data: Data = Data()
    synth: Synth = Synth()
    features: Features = Features()
    assemble: Assemble = Assemble()
    evaluate: Evaluate = Evaluate()
    model: dict[str, dict[str, Any]] = {}
    report: Report = Report()
    orchestrator: Orchestrator = Orchestrator()
    tune: Tune = Tune()

    def method_options(self, method: str, protocol: str | None = None) -> dict:
        """The learner's keyword options for ``method`` (a copy; empty when absent), checked
        against :data:`METHOD_OPTIONS`; a key left out takes the learner's default.

        ``model.<method>`` holds the settings every protocol shares; its optional
        ``by_protocol.<protocol>`` block (what ``helo tune --protocol`` writes) overrides them
        under that protocol. With ``protocol`` the result is the shared settings with that
        protocol's block laid over them; without, the shared settings alone."""
        given = copy.deepcopy(self.model.get(method) or {})
        by_protocol = given.pop(BY_PROTOCOL, None) or {}
        if protocol is not None:
            given.update(by_protocol.get(protocol) or {})
        return given

    def protocol_options(self, method: str, protocol: str) -> dict:
        """``model.<method>.by_protocol.<protocol>`` as given (a copy; empty when absent)."""
        given = (self.model.get(method) or {}).get(BY_PROTOCOL) or {}
        return copy.deepcopy(given.get(protocol) or {})

    def has_method(self, method: str) -> bool:
        """Whether params.yaml has a ``model.<method>`` group (``{}`` counts)."""
        return method in self.model


# --------------------------------------------------------------------------------- checks

def _loc(loc) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and (
        p.startswith("function-") or p in ("list[float]", "list[int]", "str", "int", "float",
                                            "bool", "literal['paper','official']"))))


def _messages(err: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
              ) -> list[str]:
    out = []
    for e in err.errors():
        key = ".".join(x for x in (prefix, _loc(e["loc"])) if x)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            allowed = _allowed(model, parent[len(prefix) + 1:] if prefix else parent)
            msg = "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        elif e["type"] == "missing":
            msg = "required key missing"
        shown = e["type"] not in ("extra_forbidden", "missing") and not isinstance(
            e.get("input"), (dict, list)) and repr(e.get("input")) not in msg
        out.append(f"{key}: {msg} (found {e['input']!r})" if shown else f"{key}: {msg}")
    return out


def _allowed(model, dotted: str) -> list[str]:
    node = model
    for part in [p for p in dotted.split(".") if p]:
        field = node.model_fields.get(part) if node is not None else None
        ann = getattr(field, "annotation", None)
        node = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return sorted(node.model_fields) if node is not None else []


def _non_finite(node, key: str = "") -> list[tuple[str, str]]:
    """``(dotted key, YAML spelling)`` of every NaN or infinite number under ``node``."""
    if isinstance(node, float) and not math.isfinite(node):
        return [(key, ".nan" if math.isnan(node) else (".inf" if node > 0 else "-.inf"))]
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in _non_finite(v, f"{key}.{k}" if key else
                                                                 str(k))]
    if isinstance(node, (list, tuple)):
        return [x for i, v in enumerate(node) for x in _non_finite(v, f"{key}.{i}")]
    return []


def validate(params: dict, source: str = "params.yaml") -> Params:
    """Check ``params`` (the whole tree); return the parsed model or raise :class:`ParamsError`
    listing every problem (one per key)."""
    if not isinstance(params, dict):
        raise ParamsError([f"the top level must be a mapping of groups, found "
                           f"{type(params).__name__}"], source)
    bad = _non_finite(params)
    parsed, problems = _checks(params)
    if bad:  # said once per key, the typed fields' own complaint about it dropped
        problems = [f"{k}: {spelled} is not a finite number (every number in params must be "
                    f"finite)" for k, spelled in bad] + [
            p for p in problems if not any(p.startswith(f"{k}:") for k, _ in bad)]
    if problems:
        raise ParamsError(problems, source)
    return parsed


def _checks(params: dict) -> tuple[Params | None, list[str]]:
    """The parsed model (None when it does not parse) and every problem found."""
    problems: list[str] = []
    parsed = None
    try:
        parsed = Params.model_validate(params)
    except ValidationError as err:
        problems += _messages(err, model=Params)
    feats = params.get("features") if isinstance(params.get("features"), dict) else {}
    for m, cls in MODALITY_GROUPS.items():
        if isinstance(feats.get(m), dict):
            try:
                cls.model_validate(feats[m])
            except ValidationError as err:
                problems += _messages(err, f"features.{m}", cls)
    for m in MODALITIES:
        if m not in MODALITY_GROUPS and isinstance(feats.get(m), dict):
            try:
                _Modality.model_validate(feats[m])
            except ValidationError as err:
                problems += _messages(err, f"features.{m}", _Modality)
    models = params.get("model") if isinstance(params.get("model"), dict) else {}
    for name, opts in models.items():
        if name not in METHODS:
            problems.append(f"model.{name}: unknown method; allowed: {', '.join(METHODS)}")
            continue
        problems += _method_problems(name, opts)
    if parsed is not None:
        problems += _cross_checks(parsed)
    return parsed, problems


def _options_problems(name: str, opts, where: str, *, shared: bool) -> list[str]:
    """Problems of one options mapping of ``name`` at dotted ``where``."""
    cls = HeloOptions if name == "helo" else MethodOptions
    out = []
    try:
        cls.model_validate(opts or {})
    except ValidationError as err:
        out += _messages(err, where, cls)
    accepted = METHOD_OPTIONS.get(name)
    if not isinstance(opts, dict):
        return out
    if not shared and "modalities" in opts:  # the ablations' subset, one for every protocol
        out.append(f"{where}.modalities: a protocol block cannot change the modalities; set "
                   f"model.{name}.modalities")
    if accepted is not None:
        allowed = sorted(accepted | {"modalities"} if shared else accepted - {"modalities"})
        out += [f"{where}.{k}: unknown option of {name}; allowed: {', '.join(allowed)}"
                for k in opts if k not in allowed and k != "modalities"]
    return out


def _method_problems(name: str, opts) -> list[str]:
    """Problems of ``model.<name>``: its shared options and each ``by_protocol`` block."""
    if not isinstance(opts, dict):
        return _options_problems(name, opts, f"model.{name}", shared=True)
    shared = {k: v for k, v in opts.items() if k != BY_PROTOCOL}
    out = _options_problems(name, shared, f"model.{name}", shared=True)
    blocks = opts.get(BY_PROTOCOL)
    if blocks is None:
        return out
    where = f"model.{name}.{BY_PROTOCOL}"
    if not isinstance(blocks, dict):
        return out + [f"{where}: a mapping of protocol -> options expected, got "
                      f"{type(blocks).__name__}"]
    for protocol, block in blocks.items():
        if protocol not in PROTOCOLS:
            out.append(f"{where}.{protocol}: unknown protocol; allowed: {', '.join(PROTOCOLS)}")
        elif block is not None and not isinstance(block, dict):
            out.append(f"{where}.{protocol}: a mapping of options expected, got "
                       f"{type(block).__name__}")
        else:
            out += _options_problems(name, block or {}, f"{where}.{protocol}", shared=False)
    return out


def _cross_checks(p: Params) -> list[str]:
    out = []
    mods = p.features.modalities
    if p.data.layout != "generic":  # a generic table brings its own modality names
        for key, names in (("features.modalities", mods),
                           ("assemble.physiological", p.assemble.physiological),
                           ("assemble.behavioural", p.assemble.behavioural)):
            unknown = [m for m in names if m not in MODALITIES]
            if unknown:
                out.append(f"{key}: unknown modality {unknown} for layout {p.data.layout!r}; "
                           f"allowed: {', '.join(MODALITIES)} (any name with layout generic)")
    if p.data.task is not None and p.data.layout != "bids":
        out.append(f"data.task: {p.data.task!r} selects a BIDS task; layout "
                   f"{p.data.layout!r} has no tasks (set it to null)")
    if not p.data.events.is_default() and p.data.layout != "bids":
        out.append(f"data.events: trial selection, durations and ids read BIDS events files; "
                   f"layout {p.data.layout!r} has none (leave data.events at its defaults: "
                   f"trial_types null, duration_s null, ids trial)")
    for group in ("physiological", "behavioural"):
        extra = [m for m in getattr(p.assemble, group) if mods and m not in mods]
        if extra:
            out.append(f"assemble.{group}: {extra} not in features.modalities {mods}")
    # model.helo.query outside assemble.physiological is no error: HeLo falls back to the first
    # physiological modality with a warning (helo.model.helo.default_query)
    return out


def as_params(params: Params | dict, source: str = "params") -> Params:
    """``params`` as the typed :class:`Params`: validated when it is a raw mapping (a test's or a
    script's dict), as it is when already typed."""
    return params if isinstance(params, Params) else validate(params, source=source)


def check_modality(modality: str, cfg: Params | None = None) -> str:
    """A ``--modality`` value: a modality or the pseudo-modality ``labels`` (with
    ``data.layout: generic``, any identifier: a table's own modality)."""
    layout = cfg.data.layout if cfg is not None else None
    if layout == "generic" and modality != "labels":
        try:
            return _identifier(modality)
        except ValueError as err:
            raise ParamsError([f"--modality: {err}"], "helo extract") from None
    if modality != "labels" and modality not in MODALITIES:
        raise ParamsError([f"--modality: unknown modality {modality!r}; allowed: "
                           f"{', '.join([*MODALITIES, 'labels'])}"], "helo extract")
    return modality
